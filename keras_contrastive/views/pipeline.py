"""`make_views`: a dataset of images -> a dataset of batched random views."""

import contextlib

import keras
import tensorflow as tf

from keras_contrastive._checks import is_int
from keras_contrastive.data.arrays import set_autotune, to_unit_float
from keras_contrastive.views.fused import decode_crops, split_crop
from keras_contrastive.views.random_resized_crop import RandomResizedCrop


def _image_of(element):
    """The image of one dataset element: `image`, `(image, label)` or a dict."""
    if isinstance(element, (tuple, list)):
        return element[0]
    if isinstance(element, dict):
        for key in ("image", "images"):
            if key in element:
                return element[key]
        raise ValueError(
            "make_views: a dataset of dicts needs an 'image' key. "
            f"Received keys: {sorted(element)}"
        )
    return element


def _label_of(element):
    """The label of one dataset element: `(image, label, ...)` or a dict's `label`."""
    if isinstance(element, (tuple, list)) and len(element) >= 2:
        return element[1]
    if isinstance(element, dict):
        for key in ("label", "labels"):
            if key in element:
                return element[key]
    raise ValueError(
        "make_views(labels=True) needs labelled elements: (image, label) tuples or dicts "
        f"with a 'label' key. Received an element spec of {element}."
    )


def _last_message(lines):
    """The innermost line of a (Keras-wrapped) error message worth showing."""
    lines = [line.strip().replace("\x1b[1m", "").replace("\x1b[0m", "") for line in lines]
    useful = [line for line in lines if line and not line.startswith(("File ", "in user code",
                                                                       "Arguments received",
                                                                       "•"))]
    return useful[-1] if useful else ""


#: How far float images may stray outside [0, 1] (resampling overshoot, rounding).
FLOAT_RANGE_TOLERANCE = 1e-3


def _probe_first_batch(dataset, batch_size, cardinality, drop_remainder, check_range):
    """Reads the first ``batch_size`` images, before anything trains, where
    the spec cannot tell: float images must lie in [0, 1] (images in
    [0, 255] would saturate to 1.0), and a dataset of unknown cardinality
    must fill one batch with ``drop_remainder`` (else ``fit`` trains on
    nothing)."""
    count_unknown = drop_remainder and cardinality == tf.data.UNKNOWN_CARDINALITY
    if not (check_range or count_unknown):
        return
    first = dataset.map(lambda *element: _image_of(element[0] if len(element) == 1
                                                   else element))
    batch = next(iter(first.take(batch_size).batch(batch_size)), None)
    count = 0 if batch is None else int(batch.shape[0])
    if count_unknown and count < batch_size:
        raise ValueError(
            f"make_views: the dataset holds {count} images (counted: its cardinality is "
            f"unknown), fewer than batch_size={batch_size}; with drop_remainder=True it "
            "would yield no batch and fit would train on nothing. Lower `batch_size` or "
            "give more images.")
    if check_range and count:
        if not bool(tf.reduce_all(tf.math.is_finite(batch))):
            raise ValueError(f"make_views: the first {count} float images hold NaN or "
                             "infinite values; images must be finite, in [0, 1].")
        low, high = float(tf.reduce_min(batch)), float(tf.reduce_max(batch))
        if high > 1.0 + FLOAT_RANGE_TOLERANCE or low < -FLOAT_RANGE_TOLERANCE:
            fix = ("would saturate to 1. Divide images in [0, 255] by 255, or pass them as "
                   "uint8." if high > 1.0 + FLOAT_RANGE_TOLERANCE else
                   "would be clipped at 0. Rescale them (e.g. (x + 1) / 2 for images in "
                   "[-1, 1]), or pass them as uint8.")
            raise ValueError(f"make_views: float images must lie in [0, 1]; the first "
                             f"{count} images range over [{low:g}, {high:g}] and {fix}")


def epoch_seed(seed, epoch, stream=0):
    """A seed for epoch ``epoch`` of a run seeded with ``seed``: an int64 scalar
    tensor that is a pure function of ``(seed, epoch, stream)`` (a Philox draw),
    so a resumed run finds each epoch's order again.  ``stream`` tells apart
    the shuffles of one epoch (files, buffer, views).

    Example:

    >>> from keras_contrastive.views.pipeline import epoch_seed
    >>> int(epoch_seed(0, 1)) == int(epoch_seed(0, 1)) != int(epoch_seed(0, 2))
    True
    """
    key = tf.stack([tf.cast(seed, tf.int64),
                    tf.cast(epoch, tf.int64) * 1024 + tf.cast(stream, tf.int64)])
    return tf.random.stateless_uniform([], seed=key, minval=None, maxval=None, dtype=tf.int64)


@contextlib.contextmanager
def _tensor_seeds():
    """Inside a ``tf.data`` function: random ops seeded by a tensor (``epoch_seed``)
    take it with the default graph-level seed, not the global one.  (With the global
    seed 0, as ``keras.utils.set_random_seed(0)`` sets, TensorFlow's ``get_seed``
    compares the tensor with 0 in Python and fails; the order stays a function of
    the tensor seed alone.)"""
    graph = tf.compat.v1.get_default_graph()
    saved, graph.seed = graph.seed, None
    try:
        yield
    finally:
        graph.seed = saved


def _seed_generators(maker):
    """The ``SeedGenerator``s of the Keras layers of a ``ViewMaker``, in a fixed order."""
    generators = []
    for layer in [maker, *maker._flatten_layers(include_self=False)]:
        generators.extend(g for g in getattr(layer, "_seed_generators", ())
                          if all(g is not seen for seen in generators))
    return generators


def _keyed_views(maker, images, seed, epoch, index):
    """``maker(images)`` with every random draw of its Keras layers a function of
    ``(seed, epoch, index)``: each ``SeedGenerator`` starts the batch from a state
    derived from them (a ``StatelessScope``: the variables are neither read nor
    advanced), so parallel calls, other processes and resumed runs make the same
    views of the same batch."""
    key = epoch_seed(seed, epoch, stream=2)
    mapping = []
    for number, generator in enumerate(_seed_generators(maker)):
        state = tf.random.stateless_uniform(
            [2], seed=tf.stack([key, tf.cast(index, tf.int64) * 4096 + number]), minval=None,
            maxval=None, dtype=tf.int64)
        mapping.append((generator.state, tf.cast(state, generator.state.dtype)))
    with keras.StatelessScope(state_mapping=mapping):
        return maker(images)


def _crop_layers(augment):
    if not isinstance(augment, keras.layers.Layer):
        return []
    layers = [augment] + list(augment._flatten_layers(include_self=False))
    return [layer for layer in layers if isinstance(layer, RandomResizedCrop)]


@keras.saving.register_keras_serializable(package="keras_contrastive")
class ViewMaker(keras.layers.Layer):
    """Makes the dict of views of a batch of images: what ``make_views`` maps
    over the data, and what a model runs inside its step with
    ``augment_on="device"``.

    ``augment`` is called ``num_views`` times (or once, when it is a view
    strategy returning the whole dict, e.g. ``MultiCrop``); with
    ``original_augment`` the dict also holds ``"original"``.  Keras layers
    are called with ``training=True``: views are random in training and in
    evaluation alike.

    Args:
        augment: a callable ``[B, H, W, C] -> [B, h, w, C]`` (e.g.
            ``simclr_augment(...)``) or a view strategy returning a dict.
        num_views: views per image (>= 2) when ``augment`` returns a batch.
        original_augment: optional callable for LeOCLR's whole-image view.

    Only Keras layers serialize: a model holding a ``ViewMaker`` of plain
    functions trains but cannot be saved as ``.keras``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views import ViewMaker, simclr_augment
    >>> maker = ViewMaker(simclr_augment(28, channels=1, seed=0), num_views=2)
    >>> views = maker(np.zeros((4, 28, 28, 1), "float32"))
    >>> [tuple(v.shape) for v in views["global"]]
    [(4, 28, 28, 1), (4, 28, 28, 1)]
    """

    def __init__(self, augment, num_views=2, original_augment=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(augment):
            raise ValueError(f"`augment` must be callable. Received: augment={augment!r}")
        if original_augment is not None and not callable(original_augment):
            raise ValueError(
                f"`original_augment` must be callable. Received: {original_augment!r}")
        if not is_int(num_views) or num_views < 2:
            raise ValueError(
                "`num_views` must be an integer >= 2 (a contrastive objective "
                f"needs at least a pair of views). Received: num_views={num_views!r}"
            )
        self.augment, self.num_views, self.original_augment = augment, num_views, original_augment

    @staticmethod
    def _apply(transform, images):
        out = (transform(images, training=True) if isinstance(transform, keras.layers.Layer)
               else transform(images))
        # views to float32; boolean patch masks (PatchMasking) stay boolean
        return tf.nest.map_structure(
            lambda v: v if v.dtype == tf.bool else tf.cast(v, tf.float32), out)

    def call(self, images, training=True):
        del training  # views are random in evaluation too
        first = self._apply(self.augment, images)
        if isinstance(first, dict):  # a view strategy (e.g. MultiCrop) makes all views at once
            views = dict(first)
        else:
            views = {"global": (first,) + tuple(self._apply(self.augment, images)
                                                for _ in range(self.num_views - 1))}
        if self.original_augment is not None:
            views["original"] = self._apply(self.original_augment, images)
        return views

    def compute_output_spec(self, images, training=True):
        return self.call(images)

    def get_config(self):
        for name in ("augment", "original_augment"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, keras.layers.Layer):
                raise TypeError(f"ViewMaker: `{name}` is a plain callable ({value!r}); only "
                                "Keras layers can be saved. Use a Keras layer to save the model.")
        return {
            **super().get_config(),
            "augment": keras.saving.serialize_keras_object(self.augment),
            "num_views": self.num_views,
            "original_augment": (None if self.original_augment is None else
                                 keras.saving.serialize_keras_object(self.original_augment)),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("augment", "original_augment"):
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


def make_views(
    dataset,
    augment,
    num_views=2,
    batch_size=256,
    shuffle_buffer=10_000,
    seed=None,
    cache=True,
    drop_remainder=True,
    original_augment=None,
    labels=False,
    indices=False,
    rescale=True,
    augment_on="data",
    deterministic=False,
    autotune=False,
    epochs=None,
    initial_epoch=0,
    fused_decode=False,
):
    """Turns a dataset of images into a dataset of batches of random views.

    The pipeline is: drop labels -> float32 in [0, 1] -> `cache()` ->
    `shuffle(shuffle_buffer)` -> `batch(batch_size)` -> one parallel map
    that calls `augment` on the batch `num_views` times (independent
    randomness per call, per sample and per epoch) -> `prefetch`.  Every
    view `i` of sample `j` is made from the same source image, so
    `views["global"][0][j]` and `views["global"][1][j]` are a positive pair.

    Randomness: Keras preprocessing layers (and this package's) draw from a
    `SeedGenerator` state variable that advances on every call, also inside
    this graph-mode map, so views differ per call, sample and epoch.  Its
    read-then-advance is not atomic: with parallel map calls, about 0.1% of
    batches re-use another batch's seed state (measured on 2 CPUs), i.e. get
    the same random parameters on different images; harmless for training.

    Args:
        dataset: A `tf.data.Dataset` of unbatched images `[H, W, C]`
            (`uint8`, converted with `x / 255`, or float already in [0, 1]),
            of `(image, label, ...)` tuples or of dicts with an `"image"`
            key.  Labels are dropped (views are label-free) unless
            `labels=True`.
        augment: A callable mapping a float batch `[B, H, W, C]` to a float
            batch of views in [0, 1], e.g. `simclr_augment(...)`, called
            `num_views` times; or a view strategy returning the whole dict
            of views at once, e.g. `MultiCrop(...)` (`{"global": ...,
            "local": ...}`), called once.  A Keras layer is called with
            `training=True`.
        num_views: Int >= 2, how many views of each image (contrastive
            objectives need at least a pair).
        batch_size: Positive int, images per batch.
        shuffle_buffer: Int >= 0, size of the shuffle buffer; 0 or 1 turns
            shuffling off.
        seed: Optional int, seed of the shuffle order (the augmentation has
            its own seeds).
        cache: Whether to cache the decoded float images in memory (before
            augmentation, so views are fresh every epoch).
        drop_remainder: Whether to drop the last incomplete batch (the
            library's convention: fixed batch size).
        original_augment: Optional callable like `augment` but without a
            crop, e.g. `simclr_augment(size, crop_scale=None, ...)`: adds
            `"original"`, one batch of each whole image resized and
            colour/flip augmented (LeOCLR's anchor view).
        labels: keep each image's integer label as `"labels"` (`[batch]`,
            int64), for supervised contrastive learning (`SupCon`); the
            elements must be `(image, label)` tuples or dicts with `"label"`.
        indices: keep each image's position in `dataset` (0, 1, ...) as
            `"indices"` (`[batch]`, int64), counted before the cache and the
            shuffle, for methods that keep state per image (`NPID`'s memory
            bank).  The dataset must yield its images in the same order every
            epoch (shuffle them here, with `shuffle_buffer`, not before).
        rescale: convert images to float32 in [0, 1] (`x / 255` for uint8);
            `False` keeps their values (as float32): class maps for
            `SemanticMaskViews`.
        augment_on: `"data"` (default): the views are made here, in
            `tf.data` on the CPU, overlapped with training by `prefetch`.
            `"device"`: the dataset yields `{"images": batch}` (plus
            `"labels"` and `"indices"`) and the model makes the views inside its compiled
            step, on the accelerator, with the same `ViewMaker`: pass it as
            `ContrastiveModel(..., device_views=maker)`.  `augment` is then
            only checked here (channels, crop sizes).
        deterministic: `False` (default) lets a batch of views leave the
            parallel map before an earlier one that is still being made
            (throughput); `True` keeps the batches in order (e.g. to compare
            two runs batch by batch).  The images inside a batch, and the
            pipeline before it, keep their order either way, and with
            `epochs` the batches do too.  With `epochs`, `True` also makes every random draw of the augmentation's Keras
            layers a function of `(seed, epoch, batch)` (stateless: their
            `SeedGenerator`s are neither read nor advanced), so two runs, and
            a resumed run, make the same views; a plain-function `augment`
            keeps its own randomness.
        autotune: `False` (default) turns tf.data's autotuning model off
            for the returned pipeline and everything upstream of it
            (`data.set_autotune`: with it on, TensorFlow 2.21 made each `fit`
            epoch wait about its own length again when its iterator was
            dropped); the maps still run one call per core.  `True` keeps the
            model.

        epochs: `None` (default): the dataset is one epoch, reshuffled on
            each iteration (from the shuffle's seed sequence, which every
            process starts afresh).  An int: the dataset holds the epochs
            `initial_epoch, ..., epochs - 1` back to back, each shuffled by
            a seed that is a pure function of `(seed, epoch)` (`epoch_seed`),
            so a run resumed in epoch `k` sees epoch `k`'s order again; train
            on it with `fit(views, epochs=epochs, initial_epoch=initial_epoch,
            steps_per_epoch=n // batch_size)`.  `dataset` may then also be a
            function `epoch -> tf.data.Dataset` (`epoch` an int64 tensor):
            a stream whose own order depends on the epoch (with
            `cache=False`, without `indices`).
        initial_epoch: the first epoch the dataset holds (with `epochs`).
        fused_decode: `True` takes a dataset of encoded files
            (`data.from_directory(..., encoded=True)`: dicts with
            `"encoded"` bytes and `"orientation"`) and makes each view's
            crop while decoding (`views.fused.decode_crops`): the crop boxes
            come from `augment`'s first layer, a `RandomResizedCrop`, drawn
            on each image at its own size, and a JPEG decodes only each box's
            window; the rest of `augment` (flip, colour, blur...) runs on the
            batch of crops.  The crops stay uint8 until that rest.  With
            `cache`, the file bytes are cached.  Not with `epochs`,
            `indices`, `original_augment`, `augment_on="device"` or
            `rescale=False`.

    `augment` may also be a `ViewMaker` (which then holds `num_views` and
    `original_augment`).

    Returns:
        A `tf.data.Dataset` of dicts `{"global": (v1, ..., v_num_views)}`
        (plus `"original"` with `original_augment`, `"labels"` with
        `labels=True` and `"indices"` with `indices=True`), each `v` a float32
        batch `[batch_size, h, w, C]`.

    Raises:
        ValueError: before anything runs, for a bad `batch_size`,
            `num_views` or `shuffle_buffer`, a dataset whose cardinality is
            0 (or known and smaller than `batch_size` with
            `drop_remainder`: no batch at all), images that are not rank 3,
            and an `augment` containing a `RandomResizedCrop` larger than the
            images.  The first `batch_size` images are read before
            training where the spec cannot tell: float images outside
            [0, 1] (e.g. in [0, 255]: divide by 255 or pass uint8) and, with
            `drop_remainder`, a dataset of unknown cardinality (e.g. after
            `filter`) too small for one batch are refused too.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_contrastive.views import make_views, simclr_augment

    images = np.random.randint(0, 256, (512, 28, 28, 1), dtype="uint8")
    augment = simclr_augment(28, channels=1, strength=0.5,
                             crop_scale=(0.2, 1.0), grayscale_prob=0.0)
    views = make_views(tf.data.Dataset.from_tensor_slices(images), augment,
                       batch_size=128)
    batch = next(iter(views))
    v1, v2 = batch["global"]      # two float32 [128, 28, 28, 1] batches
    ```
    """
    epoch_source = None
    if epochs is not None:
        if not is_int(epochs) or not is_int(initial_epoch) or not 0 <= initial_epoch < epochs:
            raise ValueError(
                "`epochs` must be an integer above `initial_epoch` >= 0. Received: "
                f"epochs={epochs!r}, initial_epoch={initial_epoch!r}")
        if callable(dataset) and not isinstance(dataset, tf.data.Dataset):
            if cache:
                raise ValueError("make_views: `cache=True` needs one dataset for every "
                                 "epoch; a function of the epoch takes cache=False.")
            if indices:
                raise ValueError("make_views(indices=True): an image's position must not "
                                 "change between epochs; pass one dataset in a fixed order "
                                 "(make_views shuffles it each epoch), not a function of "
                                 "the epoch.")
            epoch_source = dataset
            dataset = epoch_source(tf.constant(initial_epoch, tf.int64))  # checked below
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            f"`dataset` must be a tf.data.Dataset"
            f"{' (or, with `epochs`, a function of the epoch)' if epochs else ''}. "
            f"Received: dataset={dataset!r}"
        )
    if isinstance(augment, ViewMaker):
        if num_views != 2 or original_augment is not None:
            raise ValueError("make_views: pass `num_views` and `original_augment` to the "
                             "ViewMaker, not to make_views, when `augment` is a ViewMaker.")
        maker = augment
    else:
        maker = ViewMaker(augment, num_views=num_views, original_augment=original_augment)
    if augment_on not in ("data", "device"):
        raise ValueError(f"`augment_on` must be 'data' or 'device', got {augment_on!r}.")
    if fused_decode and (epochs is not None or indices or maker.original_augment is not None
                         or augment_on != "data" or not rescale):
        raise ValueError("make_views(fused_decode=True) does not take `epochs`, `indices`, "
                         "`original_augment`, augment_on='device' or rescale=False.")
    if not is_int(batch_size) or batch_size <= 0:
        raise ValueError(
            "`batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    if not is_int(shuffle_buffer) or shuffle_buffer < 0:
        raise ValueError(
            "`shuffle_buffer` must be an integer >= 0. "
            f"Received: shuffle_buffer={shuffle_buffer!r}"
        )
    if seed is not None and not is_int(seed):
        raise ValueError(f"`seed` must be None or an integer. Received: seed={seed!r}")

    if fused_decode:
        return _fused_views(dataset, maker, batch_size, shuffle_buffer, seed, cache,
                            drop_remainder, labels, autotune)
    spec = _image_of(dataset.element_spec)
    if not isinstance(spec, tf.TensorSpec):
        raise ValueError(
            f"make_views: images must be dense tensors. Received spec: {spec}"
        )
    if spec.shape.rank != 3:
        raise ValueError(
            "make_views: images must be unbatched and of rank 3 [H, W, C]. "
            f"Received images of shape {spec.shape} (rank {spec.shape.rank}); "
            "pass an unbatched dataset (e.g. `dataset.unbatch()`)."
        )
    if not (spec.dtype == tf.uint8 or spec.dtype.is_floating):
        raise ValueError(
            "make_views: images must be uint8 or float in [0, 1]. "
            f"Received dtype {spec.dtype.name}."
        )
    cardinality = int(dataset.cardinality())
    if cardinality == 0:
        raise ValueError("make_views: `dataset` is empty (cardinality 0).")
    if drop_remainder and 0 < cardinality < batch_size:
        raise ValueError(
            f"make_views: the dataset has {cardinality} images, fewer than "
            f"batch_size={batch_size}; with drop_remainder=True it would yield "
            "no batch. Lower `batch_size` or pass drop_remainder=False."
        )

    img_h, img_w = spec.shape[0], spec.shape[1]
    channels = getattr(maker.augment, "channels", None)  # MultiCrop, StrongerAugment, ...
    if is_int(channels) and spec.shape[-1] is not None and channels != spec.shape[-1]:
        raise ValueError(
            f"make_views: the images have {spec.shape[-1]} channel(s) but `augment` "
            f"({type(maker.augment).__name__}) was built for channels={channels}.")
    for crop in _crop_layers(maker.augment) + _crop_layers(maker.original_augment):
        if (img_h is not None and crop.height > img_h) or (
            img_w is not None and crop.width > img_w
        ):
            raise ValueError(
                f"make_views: crop size {crop.height}x{crop.width} is larger "
                f"than the {img_h}x{img_w} images (layer {crop.name!r})."
            )

    if labels:
        label_spec = _label_of(dataset.element_spec)
        if not (isinstance(label_spec, tf.TensorSpec) and label_spec.shape.rank == 0
                and label_spec.dtype.is_integer):
            raise ValueError(
                "make_views(labels=True): labels must be integer scalars per image. "
                f"Received spec: {label_spec}")

    _probe_first_batch(dataset, batch_size, cardinality, drop_remainder,
                       check_range=rescale and spec.dtype.is_floating)

    def views_of(images, per_image, key=None):
        # on the device, the model's step makes the views (ContrastiveModel(device_views=...))
        if augment_on == "device":
            views = {"images": images}
        elif key is not None:
            views = _keyed_views(maker, images, seed or 0, *key)
        else:
            views = maker(images)
        views.update({name: tf.cast(value, tf.int64) for name, value in per_image.items()})
        return views

    def decode(*element):
        if indices:  # enumerated: (position, element)
            index, element = element
        else:
            element = element[0] if len(element) == 1 else element
        image = (to_unit_float(_image_of(element)) if rescale
                 else tf.cast(_image_of(element), tf.float32))
        per_image = {"labels": _label_of(element)} if labels else {}
        if indices:
            per_image["indices"] = index
        return image, per_image

    parallel = tf.data.AUTOTUNE  # the model's choice, or the core count without it
    if indices:  # each image's position, before the cache and the shuffle
        dataset = dataset.enumerate()
    images = dataset.map(decode, num_parallel_calls=parallel)
    if cache:
        images = images.cache()

    def shuffled(images, shuffle_seed, reshuffle):
        if shuffle_buffer <= 1:
            return images
        return images.shuffle(shuffle_buffer, seed=shuffle_seed,
                              reshuffle_each_iteration=reshuffle)

    if epochs is None:
        batches = shuffled(images, seed, True).batch(batch_size, drop_remainder=drop_remainder)
        make = views_of
    else:
        def epoch_batches(epoch):
            with _tensor_seeds():
                source = images if epoch_source is None else epoch_source(epoch).map(
                    decode, num_parallel_calls=parallel)
                source = shuffled(source, epoch_seed(seed or 0, epoch), False)
            return source.batch(batch_size, drop_remainder=drop_remainder).enumerate().map(
                lambda index, batch: (epoch, index, batch))

        def make(epoch, index, batch):
            return views_of(*batch, key=(epoch, index) if deterministic else None)

        batches = tf.data.Dataset.range(initial_epoch, epochs).flat_map(epoch_batches)
        if cardinality > 0:
            per_epoch = cardinality // batch_size if drop_remainder else -(-cardinality
                                                                           // batch_size)
            batches = batches.apply(tf.data.experimental.assert_cardinality(
                per_epoch * (epochs - initial_epoch)))
    try:  # tracing applies `augment` to the images' spec: a mismatch shows here
        # with epochs, batches keep their order: a resumed run drops the batches trained
        # before its backup, which must be the same ones in every process
        views = batches.map(make, num_parallel_calls=parallel,
                            deterministic=bool(deterministic) or epochs is not None)
    except (ValueError, TypeError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()
        raise ValueError(
            f"make_views: `augment` cannot be applied to batches of images "
            f"{[None] + spec.shape.as_list()} ({spec.dtype.name}): "
            f"{_last_message(reason)} Check the augmentation's `channels` (1 for grayscale "
            "images) and sizes.") from error
    return set_autotune(views.prefetch(parallel), autotune)


def _fused_views(dataset, maker, batch_size, shuffle_buffer, seed, cache, drop_remainder,
                 labels, autotune):
    """`make_views(..., fused_decode=True)`: crops made while decoding the files."""
    spec = dataset.element_spec
    if not (isinstance(spec, dict) and "encoded" in spec and "orientation" in spec):
        raise ValueError(
            "make_views(fused_decode=True) needs a dataset of encoded files: dicts with "
            "'encoded' and 'orientation', as data.from_directory(..., encoded=True) "
            f"yields. Received an element spec of {spec}.")
    if labels and "label" not in spec:
        raise ValueError("make_views(labels=True, fused_decode=True): the files carry no "
                         "'label' (the folder has no class sub-folders).")
    crop, rest = split_crop(maker.augment)
    channels = getattr(maker.augment, "image_channels", 3)
    cardinality = int(dataset.cardinality())
    if cardinality == 0 or (drop_remainder and 0 < cardinality < batch_size):
        raise ValueError(f"make_views: the dataset has {cardinality} files, too few for "
                         f"one batch of {batch_size} with drop_remainder={drop_remainder}.")
    parallel = tf.data.AUTOTUNE
    if cache:
        dataset = dataset.cache()  # the file bytes: the crops are fresh every epoch
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def crops_of(element):
        crops = decode_crops(element["encoded"], element["orientation"], crop,
                             maker.num_views, channels)
        return (crops, element["label"]) if labels else (crops,)

    def views_of(crops, *label):
        views = {"global": tuple(
            ViewMaker._apply(rest, to_unit_float(crops[:, i])) if rest.layers
            else to_unit_float(crops[:, i]) for i in range(maker.num_views))}
        if labels:
            views["labels"] = tf.cast(label[0], tf.int64)
        return views

    batches = dataset.map(crops_of, num_parallel_calls=parallel).batch(
        batch_size, drop_remainder=drop_remainder)
    views = batches.map(views_of, num_parallel_calls=parallel)
    return set_autotune(views.prefetch(parallel), autotune)
