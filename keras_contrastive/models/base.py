"""The base class every self-supervised method subclasses."""
import keras
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive.losses.nt_xent import at_least_float32
from keras_contrastive.state import MomentumEncoder
from keras_contrastive.views.pipeline import ViewMaker

VIEW_KEYS = ("global", "local", "original", "labels")
# what make_views(augment_on="device") yields: the model makes the views
DEVICE_KEYS = ("images", "labels")


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


def check_anchor(anchor):
    """``anchor`` if it is ``"crop"`` or ``"original"``, else ``ValueError``."""
    if anchor not in ("crop", "original"):
        raise ValueError(f"`anchor` must be 'crop' or 'original', got anchor={anchor!r}.")
    return anchor


def _missing_original_message(name):
    return (f"{name} needs views['original'] (the whole image, resized, not cropped): build "
            "views with make_views(..., original_augment=simclr_augment(size, crop_scale=None, "
            "...)).")


class ContrastiveModel(keras.Model):
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

    ``model(images)`` and ``model.encoder`` give the backbone's features.

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
        # batches of the current epoch trained before an interruption, which a
        # resumed ``fit`` consumes without training (callbacks.BackupAndRestore)
        self.resume_skip_batches = 0

    #: ``"original"`` when the method's anchor is ``views["original"]``, the
    #: whole image resized (LeOCLR), instead of a random crop.
    anchor = "crop"

    #: whether training reads ``views["labels"]`` (supervised contrastive).
    needs_labels = False

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
            raise ValueError(_missing_original_message(type(self).__name__))
        return views["original"]

    def encoder_inputs(self, images):
        """What the encoder reads of float images in [0, 1]: the images
        themselves (Colorization: their lightness).  Evaluation feeds the
        frozen encoder through it."""
        return images

    def feature_extractor(self, image_shape=None):
        """The model that maps images to their representation, for
        evaluation and export: the encoder (CPC: the mean of its patch
        grid).  ``image_shape`` is ``(H, W, C)``, needed only where the
        representation depends on it."""
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

    def export_encoder(self, path, version=1, overwrite=False, include_projection=False,
                       metadata=None):
        """Exports the encoder for TF Serving: ``keras_contrastive.export.export_encoder(self, ...)``.

        Writes ``path/<version>/`` with the ``serving_default``,
        ``serve_uint8`` and ``serve_bytes`` signatures and ``metadata.json``
        (``"method"`` is this model's class); ``include_projection=True``
        adds the ``"projection"`` output.  Returns the version directory.
        """
        from keras_contrastive.export import export_encoder

        return export_encoder(self, path, version=version, overwrite=overwrite,
                              include_projection=include_projection, metadata=metadata)

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
        constructor's ``locals()``, after validation) as an attribute, unless
        a parent's constructor stored it already (its value, resolved, wins)."""
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
        views = self._unpack(data)
        loss, extras = self.compute_objective(views, training=False)
        return self._record(loss, extras)

    def make_train_function(self, force=False):
        """Keras' train function, preceded by the skipping of the batches a
        resumed run had trained before it was interrupted
        (``resume_skip_batches``, set by ``callbacks.BackupAndRestore``): they
        are read from the iterator and dropped, so the run goes on with the
        batch that followed the backup, as an uninterrupted run would."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force)
        train_batches = self.train_function

        def train_function(iterator):
            if self.resume_skip_batches <= 0:
                return train_batches(iterator)
            for _ in range(self.steps_per_execution):
                next(iterator)
            self.resume_skip_batches -= self.steps_per_execution
            return {}

        self.train_function = train_function
        return train_function

    def _record(self, loss, extras):
        self.loss_tracker.update_state(loss)
        self.std_tracker.update_state(embedding_std(extras["embeddings"]))
        logs = {m.name: m.result() for m in self.metrics}
        if distribute.is_multi_worker(self.distribute_strategy):
            # keras#20585: under MultiWorkerMirroredStrategy Keras reduces the
            # step's logs with strategy.reduce("MEAN", v, axis=0), which a
            # scalar lacks; [1]-shaped logs reduce to the same scalar mean
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Builds the optimizer's slots before the first step is traced.

        Without a strategy, Keras defers this to the trace of the train step;
        the slots are then variables created inside a ``tf.function``, and
        TensorFlow traces the whole step a second time (twice the tracing
        time of every ``fit``; ``tests/test_pretraining.py`` counts the traces).

        keras#20585: under MultiWorkerMirroredStrategy, Keras' own build pulls
        a batch and reduces it across replicas eagerly to learn its shapes,
        which fails (a dict of PerReplica views cannot be reduced across
        workers).  A ``ContrastiveModel`` is built in ``__init__``, so only
        the optimizer's slots remain to be created there too."""
        unbuilt = [layer.name for layer in self._flatten_layers() if not layer.built]
        if distribute.is_multi_worker(self.distribute_strategy):
            if unbuilt:
                raise ValueError(f"{type(self).__name__} has unbuilt layers {unbuilt}: build "
                                 "them in __init__ (multi-worker training cannot build from a "
                                 "batch).")
        else:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        if not unbuilt and self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    def _unpack(self, data):
        if isinstance(data, dict) and "images" in data and "global" not in data:
            if self.device_views is None:
                raise ValueError(_no_device_views_message(type(self).__name__))
            views = dict(self.device_views(data["images"], training=True))
            if "labels" in data:
                views["labels"] = data["labels"]
            return views
        if isinstance(data, dict) and "global" in data:
            return data
        raise ValueError(_views_expected_message(data))

    # -- input checks before anything is traced ----------------------------------
    def fit(self, x=None, y=None, *args, **kwargs):
        if y is not None:
            raise ValueError(
                f"{type(self).__name__}.fit takes views, not labels: got y={type(y).__name__}. "
                "Build views with keras_contrastive.views.make_views(dataset, augment)."
            )
        self.check_views(x)
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

    def check_views(self, dataset):
        """Validates a views dataset before training; raises ``ValueError``.

        Checks what can be known without running it: the element structure
        (a dict with a ``"global"`` tuple of view batches, not
        ``(images, labels)``), image rank and channels against the encoder,
        a static batch size divisible by the replica count, and emptiness.
        """
        if not isinstance(dataset, tf.data.Dataset):
            return  # distributed datasets and generators are checked at trace time
        spec = dataset.element_spec
        if isinstance(spec, dict) and "images" in spec and "global" not in spec:
            spec = self._device_view_spec(spec)
        if not (isinstance(spec, dict) and "global" in spec):
            raise ValueError(_views_expected_message(spec))
        unknown = sorted(set(spec) - set(VIEW_KEYS))
        if unknown:
            raise ValueError(f"unknown view keys {unknown}; expected some of {VIEW_KEYS}.")
        if self.needs_original_view and "original" not in spec:
            raise ValueError(_missing_original_message(type(self).__name__))
        if self.needs_labels:
            _check_labels_spec(type(self).__name__, spec)
        if "local" in spec and not self.reads_local_views:
            raise ValueError(
                f"{type(self).__name__} does not use multi-crop local views (views['local']): "
                "they would be computed and ignored. Use MultiCrop(num_local=0), or a method "
                "that reads them (MoCo, KNNMoCo, SwAV, DINO).")
        global_views = spec["global"]
        if not isinstance(global_views, (tuple, list)) or len(global_views) < 2:
            raise ValueError(
                "views['global'] must be a tuple of at least 2 view batches, got "
                f"{global_views}."
            )
        expected = tuple(self.encoder.input_shape[1:])
        replicas = self.distribute_strategy.num_replicas_in_sync
        for key in sorted(set(spec) - {"labels"}):
            views = spec[key] if isinstance(spec[key], (tuple, list)) else (spec[key],)
            for index, view in enumerate(views):
                name = f"views[{key!r}][{index}]"
                shape = tuple(view.shape)
                if len(shape) != 4:
                    raise ValueError(
                        f"{name} must be a batch of images [batch, height, width, "
                        f"channels], got shape {shape}."
                    )
                if not view.dtype.is_floating:
                    raise ValueError(
                        f"{name} is {view.dtype.name}: views must be float images in [0, 1] "
                        "(make_views converts uint8 images with x / 255).")
                if (self.checks_view_size and expected[-1] is not None
                        and shape[-1] != expected[-1]):
                    raise ValueError(
                        f"{name} has {shape[-1]} channels but the encoder takes "
                        f"{expected[-1]} (encoder input shape {expected})."
                    )
                if (self.checks_view_size and key == "global" and None not in expected[:2]
                        and shape[1:3] != expected[:2]):
                    if None not in shape[1:3]:
                        raise ValueError(
                            f"{name} is {shape[1]}x{shape[2]} but the encoder takes "
                            f"{expected[0]}x{expected[1]} images."
                        )
                if shape[0] is not None and shape[0] % replicas:
                    raise ValueError(
                        f"the batch size {shape[0]} cannot be split evenly across "
                        f"{replicas} replicas; use a multiple of {replicas}."
                    )
                if key == "global" and index == 0 and shape[0] is not None:
                    self.check_global_batch(shape[0])
        if dataset.cardinality() == 0:
            raise ValueError("the views dataset is empty (0 batches).")

    def _device_view_spec(self, spec):
        """The spec of the views ``device_views`` makes of ``spec["images"]``:
        found by making the views of 2 blank images, so an augmentation that
        does not fit the images fails here, before training."""
        name = type(self).__name__
        unknown = sorted(set(spec) - set(DEVICE_KEYS))
        if unknown:
            raise ValueError(f"unknown keys {unknown} beside 'images'; expected some of "
                             f"{DEVICE_KEYS}.")
        if self.device_views is None:
            raise ValueError(_no_device_views_message(name))
        images = spec["images"]
        if images.shape.rank != 4 or None in images.shape[1:]:
            raise ValueError(f"views['images'] must be batches of images [batch, H, W, C] of a "
                             f"known size, got {images}.")
        if not images.dtype.is_floating:
            raise ValueError(f"views['images'] is {images.dtype.name}: images must be float in "
                             "[0, 1] (make_views converts uint8 images with x / 255).")
        try:
            made = self.device_views(tf.zeros([2] + images.shape[1:], images.dtype))
        except (ValueError, TypeError, tf.errors.OpError) as error:
            raise ValueError(f"{name}.device_views cannot make views of images "
                             f"{images.shape.as_list()}: {error}") from error
        views = tf.nest.map_structure(
            lambda v: tf.TensorSpec([images.shape[0]] + v.shape[1:], v.dtype), made)
        return {**views, **({"labels": spec["labels"]} if "labels" in spec else {})}


def _no_device_views_message(name):
    return (f"the data yields batches of images ({{'images': ...}}, from make_views(..., "
            f"augment_on='device')) but {name} has no device_views to make views of them: "
            f"build it with {name}(..., device_views=views.ViewMaker(augment)).")


def _check_labels_spec(name, spec):
    if "labels" not in spec:
        raise ValueError(
            f"{name} trains on labelled views: views['labels'] is missing. Build them with "
            "keras_contrastive.views.make_views(labelled_dataset, augment, labels=True), "
            "where the dataset yields (image, label) pairs.")
    labels, first = spec["labels"], spec["global"][0]
    if not (labels.dtype.is_integer and labels.shape.rank == 1):
        raise ValueError(f"views['labels'] must be integer class labels [batch], got {labels}.")
    if None not in (labels.shape[0], first.shape[0]) and labels.shape[0] != first.shape[0]:
        raise ValueError(f"views['labels'] has {labels.shape[0]} labels for batches of "
                         f"{first.shape[0]} views.")


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


def _views_expected_message(spec):
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return (
            "labels passed where views are expected: the dataset yields "
            "(images, labels) pairs. Self-supervised models train on views: "
            "keras_contrastive.views.make_views(dataset, augment) builds them "
            "(labels are dropped)."
        )
    return (
        "expected a dict of views {'global': (view_1, view_2, ...)} as made by "
        f"keras_contrastive.views.make_views, got {spec}."
    )


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
    """What maps images to features for ``model``: a trained model's
    :meth:`ContrastiveModel.feature_extractor` (the encoder; CPC: its
    mean-pooled patch grid of ``image_shape`` images), else its
    ``.encoder``, else ``model`` itself.

    Example:

    >>> from keras_contrastive import backbones, models
    >>> encoder = backbones.resnet18((28, 28, 1), width=4)
    >>> models.representation_model(models.SimCLR(encoder)) is encoder
    True
    """
    extractor = getattr(model, "feature_extractor", None)
    if callable(extractor):
        return extractor(image_shape)
    encoder = getattr(model, "encoder", None)
    return model if encoder is None else encoder
