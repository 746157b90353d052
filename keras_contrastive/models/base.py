"""The base class every self-supervised method subclasses."""
import warnings

import keras
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._checks import check_number
from keras_contrastive._numerics import at_least_float32, inline_xla_cores
from keras_contrastive.models._fit_mechanics import FitMechanics
from keras_contrastive.state import MomentumEncoder
from keras_contrastive.views import spec as view_spec
from keras_contrastive.views.pipeline import ViewMaker


def embedding_std(embeddings):
    """Representation health: mean per-dimension std of l2-normalised embeddings.

    About ``1/sqrt(d)`` for embeddings spread over the sphere, and 0 when every
    input maps to the same point (collapse).  Computed over the global batch.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models import embedding_std
    >>> spread = np.random.default_rng(0).normal(size=(512, 16)).astype("float32")
    >>> round(float(embedding_std(spread)), 2), 1 / 16 ** 0.5  # about 1/sqrt(d)
    (0.25, 0.25)
    >>> round(float(embedding_std(np.ones((512, 16), "float32"))), 6)  # collapsed
    0.0
    """
    z = tf.math.l2_normalize(at_least_float32(embeddings), axis=1)
    z = distribute.all_gather(tf.stop_gradient(z))
    return tf.reduce_mean(tf.math.reduce_std(z, axis=0))


def centred(embeddings):
    """``embeddings`` minus their mean over the global batch (no gradient).

    What ``embedding_std`` reads for objectives that ignore the embeddings'
    mean (Barlow Twins, VICReg; pretext heads with a bias): a mean that
    drifts freely would bunch the raw vectors on the sphere while the
    representation is healthy.  A collapse to one point still reads 0.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models import centred
    >>> centred(np.array([[1.0, 2.0], [3.0, 6.0]], "float32")).numpy()
    array([[-1., -2.],
           [ 1.,  2.]], dtype=float32)
    """
    z = tf.stop_gradient(at_least_float32(embeddings))
    return z - distribute.global_mean(z)


_POSITIVE = {"low": 0, "low_open": True}
_FRACTION = {"low": 0, "high": 1}
_NON_NEGATIVE = {"low": 0}
_SIZE = {"low": 1, "integer": True}
_COUNT = {"low": 0, "integer": True}
_OPTIONAL = object()
#: What the methods' constructor arguments must be, by name (one name means one
#: thing in every method).  ``keep_config`` checks them, before any network is
#: built: a NumPy scalar is checked by value and stored as a Python number; a
#: string, a bool or NaN is refused naming the argument.  ``None`` passes for the
#: names marked optional (a method's own default).
ARGUMENT_RULES = {
    **dict.fromkeys(("temperature", "student_temperature", "teacher_temperature",
                     "warmup_teacher_temperature"), _POSITIVE),
    **dict.fromkeys(("momentum", "center_momentum", "fill"), _FRACTION),
    **dict.fromkeys(("mask_fraction", "mask_ratio"),
                    {"low": 0, "high": 1, "low_open": True, "high_open": True}),
    **dict.fromkeys(("lambda_", "sim_weight", "var_weight", "cov_weight", "nn_weight",
                     "epsilon", "koleo_weight"), _NON_NEGATIVE),
    **dict.fromkeys(("projection_dim", "out_dim", "bottleneck_dim", "predictor_dim",
                     "projector_layers", "queue_size", "support_size", "num_prototypes",
                     "sinkhorn_iterations", "k", "num_permutations", "version",
                     "prediction_steps", "decoder_dim", "decoder_depth", "decoder_num_heads"),
                    _SIZE),
    **dict.fromkeys(("hidden_dim", "prediction_hidden_dim", "context_dim", "total_steps",
                     "patch_size"), {**_SIZE, "optional": True}),
    "grid": {"low": 2, "integer": True},
    **dict.fromkeys(("num_hidden_layers", "queue_length", "freeze_prototypes_epochs",
                     "warmup_teacher_temperature_epochs", "freeze_last_layer_epochs",
                     "warmup_epochs", "jitter"), _COUNT),
}


def check_arguments(arguments):
    """``arguments`` (a dict) with each value named in :data:`ARGUMENT_RULES`
    checked and made a Python number; raises ``TypeError``/``ValueError`` naming
    the first bad one.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.base import check_arguments
    >>> check_arguments({"temperature": np.float32(0.5), "hidden_dim": None})
    {'temperature': 0.5, 'hidden_dim': None}
    >>> check_arguments({"temperature": np.float32(0)})
    Traceback (most recent call last):
    ...
    ValueError: `temperature` must be > 0, got temperature=np.float32(0.0).
    """
    checked = dict(arguments)
    for name, value in arguments.items():
        rule = ARGUMENT_RULES.get(name)
        if rule is None or (value is None and rule.get("optional")):
            continue
        checked[name] = check_number(name, value, **{k: v for k, v in rule.items()
                                                    if k != "optional"})
    return checked


def check_anchor(anchor):
    """``anchor`` if it is ``"crop"`` or ``"original"``, else ``ValueError``."""
    if anchor not in ("crop", "original"):
        raise ValueError(f"`anchor` must be 'crop' or 'original', got anchor={anchor!r}.")
    return anchor


class ContrastiveModel(FitMechanics):
    """Holds the training template once; a method fills in its objective.

    ``train_step`` unpacks the dict of views, computes the method's loss on
    this replica's share of the global batch, divides it by the replica count
    (so that the sum of gradients over replicas is the gradient of the
    global mean), applies the gradients (with loss scaling under mixed
    precision), then lets the method update its state (EMA targets, queues)
    and records ``loss`` and ``embedding_std``.

    A subclass implements:

    * ``compute_objective(views, training)`` -> ``(loss, extras)``, where
      ``extras`` is a dict that holds at least ``"embeddings"`` (the
      projections whose spread ``embedding_std`` reports);
    * ``update_state(extras)`` if it has state (after the optimizer step);
    * ``get_config`` adding its own arguments to the base's (which
      serializes ``encoder``; ``from_config`` restores it).

    Optional hooks: ``check_global_batch(batch)`` (refuse a batch before
    training), ``plan_training(total_steps, steps_per_epoch)`` (schedules over the run),
    ``filter_gradients(gradients, variables)`` (e.g. freeze a layer for a while).

    ``model.feature_extractor(image_shape)`` is an image's representation
    (what evaluation, export and the CLI use); ``model(images)`` runs the
    encoder.  View checking lives in :mod:`keras_contrastive.views.spec`,
    exact resume and multi-worker ``fit`` in ``FitMechanics``
    (``models/_fit_mechanics.py``).

    Example (a method in a few lines: cosine alignment of two views, which
    would collapse, but shows the contract):

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive.models import ContrastiveModel
    >>> class Align(ContrastiveModel):
    ...     def compute_objective(self, views, training):
    ...         a, b = (self.encoder(v, training=training) for v in views["global"][:2])
    ...         a, b = tf.math.l2_normalize(a, 1), tf.math.l2_normalize(b, 1)
    ...         return -tf.reduce_mean(tf.reduce_sum(a * b, 1)), {"embeddings": a}
    >>> encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                             keras.layers.Dense(4)])
    >>> model = Align(encoder)
    >>> model.compile(optimizer="sgd")
    >>> x = tf.random.uniform([4, 8, 8, 1], seed=0)
    >>> views = tf.data.Dataset.from_tensors({"global": (x, x[:, :, ::-1])})
    >>> sorted(model.fit(views, epochs=1, verbose=0).history)
    ['embedding_std', 'loss']

    Args:
        encoder: a ``keras.Model`` mapping float images in [0, 1],
            ``[B, H, W, C]``, to features ``[B, D]``.
        device_views: a ``views.ViewMaker`` (or an augmentation, made into
            one with two views) that makes the views inside the training
            step, on the accelerator, from batches of images
            ``{"images": ...}`` (``make_views(..., augment_on="device")``).
            Build it in the same ``strategy.scope()`` as the model.  Data of
            ready-made views is used as it is.
    """

    def __init__(self, encoder, device_views=None, **kwargs):
        super().__init__(**kwargs)
        if device_views is not None and not isinstance(device_views, ViewMaker):
            device_views = ViewMaker(device_views)
        self.device_views = device_views
        if not isinstance(encoder, keras.Model):
            raise ValueError(
                f"`encoder` must be a keras.Model, got encoder={encoder!r}."
            )
        if len(encoder.outputs or []) != 1 or len(encoder.output_shape) != 2:
            raise ValueError(
                "`encoder` must output features [batch, dim]; its output shape is "
                f"{getattr(encoder, 'output_shape', None)}. Add a pooling layer "
                "or wrap it with keras_contrastive.backbones.as_encoder."
            )
        self.encoder = encoder
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.std_tracker = keras.metrics.Mean(name="embedding_std")

    #: ``"original"`` when the method's anchor is ``views["original"]``, the
    #: whole image resized (LeOCLR), instead of a random crop.
    anchor = "crop"

    #: whether training reads ``views["labels"]`` (supervised contrastive).
    needs_labels = False

    #: whether training reads ``views["indices"]``, each image's index in the
    #: data set (``make_views(..., indices=True)``): NPID's memory bank.
    needs_indices = False

    #: whether the method uses multi-crop local views (``views["local"]``);
    #: ``fit`` refuses local views for a method that would ignore them.
    reads_local_views = False

    #: whether ``check_views`` compares the views' size and channels with the
    #: encoder's input (off for models whose encoder sees something else:
    #: jigsaw tiles, the lightness channel).
    checks_view_size = True

    @property
    def needs_original_view(self):
        """Whether training reads ``views["original"]`` (the uncropped image)."""
        return self.anchor == "original"

    def original_view(self, views):
        """``views["original"]``, or a ``ValueError`` that says how to build it."""
        if "original" not in views:
            raise ValueError(view_spec.missing_original_message(type(self).__name__))
        return views["original"]

    def feature_extractor(self, image_shape=None):
        """The one answer to "what are an image's features": a ``keras.Model``
        from float images in [0, 1] ``[B, H, W, C]`` to ``[B, D]``, any input
        transform included.  Evaluation, export, the callbacks, ``pretrain``
        and the CLI use it and nothing else.

        The encoder for most methods; CPC: the mean of its patch grid;
        Colorization: the encoder of the images' lightness.  ``image_shape``
        is ``(H, W, C)``, needed only where the representation depends on it.

        Example:

        >>> from keras_contrastive import backbones, models
        >>> encoder = backbones.small_cnn((28, 28, 1))
        >>> models.SimCLR(encoder).feature_extractor() is encoder
        True
        """
        return self.encoder

    @property
    def feature_dim(self):
        """Size of the encoder's features."""
        return self.encoder.output_shape[-1]

    @property
    def metrics(self):
        return [self.loss_tracker, self.std_tracker]

    def call(self, images, training=False):
        return self.encoder(images, training=training)

    # -- what a method writes -------------------------------------------------
    def compute_objective(self, views, training):
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_objective(views, training)."
        )

    def update_state(self, extras):
        """Updates the method's state after the optimizer step (default: none)."""

    def filter_gradients(self, gradients, variables):
        """The gradients to apply (default: unchanged); SwAV zeroes its
        prototypes' while they are frozen."""
        return gradients

    def check_global_batch(self, global_batch):
        """Raises ``ValueError`` if the method cannot train on this global batch.

        Called by ``fit`` with the views dataset's static batch size, before
        anything is traced (queues check their size is a multiple of it).
        """

    def plan_training(self, total_steps, steps_per_epoch):
        """Told by ``fit`` how many optimizer steps the run will take.

        ``total_steps`` counts from step 0 (``epochs * steps_per_epoch``), so
        schedules driven by ``optimizer.iterations`` (BYOL's momentum) end
        where the run ends, also when it resumes.  Each is ``None`` when
        unknown.
        """

    # -- serialization: subclasses add their own arguments ----------------------
    #: the constructor's arguments (besides ``encoder``) that ``get_config``
    #: saves; a subclass lists its own after its parent's.
    config_fields = ()

    def keep_config(self, arguments):
        """Stores each of ``config_fields`` found in ``arguments`` (the
        constructor's ``locals()``) as an attribute, unless a parent's
        constructor stored it already (its value, resolved, wins).  The values
        are checked first (:func:`check_arguments`): call it before building
        any network."""
        arguments = check_arguments({name: arguments[name] for name in self.config_fields
                                     if name in arguments})
        for name in self.config_fields:
            if name in arguments and name not in vars(self):
                setattr(self, name, arguments[name])

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "device_views": (None if self.device_views is None else
                             keras.saving.serialize_keras_object(self.device_views)),
            **{name: getattr(self, name) for name in self.config_fields},
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        if config.get("device_views") is not None:
            config["device_views"] = keras.saving.deserialize_keras_object(
                config["device_views"])
        return cls(**config)

    # -- the template -----------------------------------------------------------
    def train_step(self, data):
        # a step XLA compiles whole takes the loss cores' bodies into its one program
        with inline_xla_cores(self.jit_compile is True):
            views = self._unpack(data)
            with tf.GradientTape() as tape:
                loss, extras = self.compute_objective(views, training=True)
                scaled = loss / distribute.num_replicas()
                scaled = self.optimizer.scale_loss(scaled)
            variables = self.trainable_variables
            gradients = self.filter_gradients(tape.gradient(scaled, variables), variables)
            self.optimizer.apply_gradients(zip(gradients, variables))
            self.update_state(extras)
            return self._record(loss, extras)

    def test_step(self, data):
        with inline_xla_cores(self.jit_compile is True):
            views = self._unpack(data)
            loss, extras = self.compute_objective(views, training=False)
            return self._record(loss, extras)

    def _record(self, loss, extras):
        self.loss_tracker.update_state(loss)
        self.std_tracker.update_state(embedding_std(extras["embeddings"]))
        return self.multi_worker_logs({m.name: m.result() for m in self.metrics})

    def _unpack(self, data):
        # an uneven split across replicas stops the step (a static one was refused by fit)
        data = distribute.check_even_split(data)
        if isinstance(data, dict) and "images" in data and "global" not in data:
            if self.device_views is None:
                raise ValueError(view_spec.no_device_views_message(type(self).__name__))
            views = dict(self.device_views(data["images"], training=True))
            views.update({key: data[key] for key in view_spec.PER_IMAGE_KEYS if key in data})
            return views
        if isinstance(data, dict) and "global" in data:
            return data
        raise ValueError(view_spec.views_expected_message(data))

    # -- input checks before anything is traced ----------------------------------
    def fit(self, x=None, y=None, *args, **kwargs):
        if y is not None:
            raise ValueError(
                f"{type(self).__name__}.fit takes views, not labels: got y={type(y).__name__}. "
                "Build views with keras_contrastive.views.make_views(dataset, augment)."
            )
        self.check_views(x, steps_per_epoch=kwargs.get("steps_per_epoch"))
        view_spec.check_array_split(x, kwargs.get("batch_size"),
                                    self.distribute_strategy.num_replicas_in_sync)
        kwargs.setdefault("shuffle", False)  # a views dataset is shuffled by make_views
        validation = kwargs.get("validation_data")
        if validation is not None:
            self.check_views(validation)
        self.plan_training(*_run_length(x, args, kwargs))
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if y is not None:
            raise ValueError(
                f"{type(self).__name__}.evaluate takes views, not labels."
            )
        self.check_views(x)
        return super().evaluate(x, *args, **kwargs)

    def check_views(self, dataset, steps_per_epoch=None):
        """Validates a views dataset before training; raises ``ValueError``.
        ``steps_per_epoch``: the batches ``fit`` reads an epoch, when it is
        given them (a dataset of several epochs, ``make_views(epochs=...)``).

        :func:`keras_contrastive.views.spec.check_views` against what this
        method declares it reads (``needs_original_view``, ``needs_labels``,
        ``needs_indices``, ``reads_local_views``, ``checks_view_size``, the encoder's input,
        ``check_global_batch``).  A method with more to check overrides it.
        """
        view_spec.check_views(dataset, self)


def _run_length(x, args, kwargs):
    """``(epochs * steps_per_epoch, steps_per_epoch)`` of a ``fit`` call (``None`` if unknown)."""
    epochs = kwargs.get("epochs", args[1] if len(args) > 1 else 1)
    steps = kwargs.get("steps_per_epoch")
    if steps is None and isinstance(x, tf.data.Dataset):
        cardinality = int(x.cardinality())
        steps = cardinality if cardinality > 0 else None
    if not steps:
        return None, None
    return int(epochs) * int(steps), int(steps)


class MomentumTargetModel(ContrastiveModel):
    """Base of BYOL and MoCo v3: an online network and its momentum target.

    ``self.online`` is ``encoder -> projector``; ``self.target`` a
    :class:`~keras_contrastive.state.MomentumEncoder` copy of it whose
    momentum rises from ``momentum`` to 1 on a cosine schedule over the
    ``fit`` run (or ``total_steps``), driven by the optimizer's iteration
    count so that it survives a resume.  The target moves after each
    optimizer step.  Subclasses call ``_build_online_target`` in
    ``__init__`` and write ``compute_objective`` (see :class:`BYOL`,
    :class:`MoCoV3`).

    Example:

    >>> from keras_contrastive import backbones, models
    >>> model = models.BYOL(backbones.resnet18((28, 28, 1), width=4), hidden_dim=64)
    >>> isinstance(model, models.MomentumTargetModel), model.target.schedule
    (True, 'cosine')
    """

    def _build_online_target(self, projector, momentum, total_steps):
        self.projector = projector
        self.online = keras.Sequential([self.encoder, projector], name="online")
        self.target = MomentumEncoder(self.online, momentum, schedule="cosine",
                                      total_steps=total_steps, name="target")

    def plan_training(self, total_steps, steps_per_epoch):
        if self.total_steps is None and total_steps:
            self.target.total_steps_variable.assign(total_steps)

    def update_state(self, extras):
        self.target.update(self.online, self.optimizer.iterations)


def representation_model(model, image_shape=None):
    """Deprecated: call ``model.feature_extractor(image_shape)``.

    Kept for code written against earlier versions; it warns and returns
    :meth:`ContrastiveModel.feature_extractor`.

    Example:

    >>> import warnings
    >>> from keras_contrastive import backbones, models
    >>> encoder = backbones.small_cnn((28, 28, 1))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     models.representation_model(models.SimCLR(encoder)) is encoder
    True
    """
    warnings.warn("models.representation_model(model, shape) is deprecated: call "
                  "model.feature_extractor(shape).", DeprecationWarning, stacklevel=2)
    return model.feature_extractor(image_shape)
