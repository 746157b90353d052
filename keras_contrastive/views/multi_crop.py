"""Multi-crop views: 2 global crops + local crops, optionally constrained to overlap
the key crop ("Revisiting Contrastive Methods...", Sec. 4.1), and IoU-limited pairs."""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive.views.augment import simclr_augment
from keras_contrastive.views.random_resized_crop import (
    RandomResizedCrop, crop_and_resize_boxes)
from keras_contrastive.views.stronger import StrongerAugment


def _corners(boxes):
    boxes = tf.cast(boxes, tf.float32)
    y0, x0, h, w = tf.unstack(boxes, axis=-1)
    return y0, x0, y0 + h, x0 + w, h * w


def _intersection(a, b):
    ay0, ax0, ay1, ax1, _ = _corners(a)
    by0, bx0, by1, bx1, _ = _corners(b)
    height = tf.maximum(0.0, tf.minimum(ay1, by1) - tf.maximum(ay0, by0))
    width = tf.maximum(0.0, tf.minimum(ax1, bx1) - tf.maximum(ax0, bx0))
    return height * width


def overlap_share(boxes, reference):
    """Share of each box's area inside ``reference`` (boxes ``(y0, x0, h, w)``, broadcast).

    Example:

    >>> from keras_contrastive.views.multi_crop import overlap_share
    >>> float(overlap_share([0, 0, 4, 4], [2, 2, 10, 10]))  # a 2x2 corner of 4x4
    0.25
    """
    return _intersection(boxes, reference) / _corners(boxes)[-1]


def box_iou(a, b):
    """Intersection over union of boxes ``(y0, x0, h, w)`` (broadcast).

    Example:

    >>> from keras_contrastive.views.multi_crop import box_iou
    >>> round(float(box_iou([0, 0, 4, 4], [2, 2, 4, 4])), 4)  # 4 / (16 + 16 - 4)
    0.1429
    """
    inter = _intersection(a, b)
    return inter / (_corners(a)[-1] + _corners(b)[-1] - inter)


def _crop(images, boxes, size):
    """Crops ``boxes`` (pixels, ``(y0, x0, h, w)``) and resizes them to ``size``."""
    return crop_and_resize_boxes(tf.cast(images, tf.float32), boxes, size, size)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MultiCrop(keras.layers.Layer):
    """A view strategy: 2 global crops and ``num_local`` local crops per image.

    Called on a float batch ``[B, H, W, C]`` in [0, 1], it returns
    ``{"global": (g1, g2), "local": (l1, ..., lV)}``; pass it to
    :func:`~keras_contrastive.views.make_views` as ``augment``.  Every crop is
    an Inception-style random resized crop (global: ``global_scale`` at
    ``global_size`` px; local: ``local_scale`` at ``local_size`` px) followed
    by SimCLR's flip and colour augmentation.  Views of one resolution form
    one batch each, so a model encodes each resolution in one call.

    ``min_overlap`` (constrained multi-crop) resamples each local crop until
    at least that share of its area lies inside the **key** crop (global
    view ``key_index``, the one a momentum encoder sees; 1 for ``MoCo``):
    ``max_attempts`` candidates are drawn at once per crop and the first that
    satisfies the constraint is used; when none does, the crop is centred on
    the key crop's centre (clipped to the image), which satisfies it
    whenever the local crop is at most as large as the key crop, as with the
    paper's scales.  :meth:`fallback_share` measures how often that happens.

    ``max_iou`` (IoU-limited two-crop) resamples the second global crop until
    its IoU with the first is below ``max_iou``; when no candidate is, the
    pair becomes the image's left and right halves (IoU 0).

    Args:
        global_size, local_size: output sizes (the paper: 160 and 96 px for
            ImageNet-size images).
        num_local: local crops per image (4 in "Revisiting", 0 for none).
        global_scale, local_scale: crop area ranges ((0.2, 1), (0.05, 0.14)).
        min_overlap: ``None`` (plain multi-crop) or the share, e.g. 0.2.
        max_iou: ``None`` or the IoU bound of the two global crops.
        key_index: which global crop is the key (0 or 1).
        max_attempts: candidates drawn per constrained crop.
        channels, strength, grayscale_prob, blur_prob: the colour pipeline
            (see :func:`simclr_augment`).
        stronger: A+ ("Revisiting...", Sec. 4.2): every view but the key
            crop gets, with probability 0.5 per image, the strong policy
            (:func:`~keras_contrastive.views.strong_policy`) instead of the
            colour pipeline (:class:`StrongerAugment`).
        seed: seed of the random streams.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views import MultiCrop
    >>> strategy = MultiCrop(28, 12, num_local=4, min_overlap=0.2, channels=1, seed=0)
    >>> views = strategy(np.random.uniform(size=(8, 28, 28, 1)).astype("float32"))
    >>> [v.shape[1] for v in views["global"]], [v.shape[1] for v in views["local"]]
    ([28, 28], [12, 12, 12, 12])
    """

    def __init__(self, global_size, local_size=None, num_local=4, global_scale=(0.2, 1.0),
                 local_scale=(0.05, 0.14), min_overlap=None, max_iou=None, key_index=1,
                 max_attempts=10, channels=3, strength=0.5, grayscale_prob=None,
                 blur_prob=0.0, stronger=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        if num_local and local_size is None:
            raise ValueError("MultiCrop: `local_size` is required when num_local > 0.")
        for argument, size in (("global_size", global_size), ("local_size", local_size)):
            if size is not None and (isinstance(size, bool)
                                     or not isinstance(size, (int, np.integer)) or size < 1):
                raise ValueError(f"MultiCrop: `{argument}` must be a positive integer, got "
                                 f"{argument}={size!r}.")
        if num_local and local_size > global_size:
            raise ValueError(
                f"MultiCrop: local crops ({local_size} px) must not be larger than the global "
                f"crops ({global_size} px); got local_size={local_size}, "
                f"global_size={global_size}.")
        if min_overlap is not None and not 0.0 < min_overlap <= 1.0:
            raise ValueError(f"`min_overlap` must be in (0, 1], got {min_overlap!r}.")
        if max_iou is not None and not 0.0 < max_iou <= 1.0:
            raise ValueError(f"`max_iou` must be in (0, 1], got {max_iou!r}.")
        if key_index not in (0, 1):
            raise ValueError(f"`key_index` must be 0 or 1, got {key_index!r}.")
        if not isinstance(num_local, int) or num_local < 0:
            raise ValueError(f"`num_local` must be an integer >= 0, got {num_local!r}.")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"`max_attempts` must be an integer >= 1, got {max_attempts!r}.")
        self.global_size, self.local_size, self.num_local = global_size, local_size, num_local
        self.global_scale, self.local_scale = tuple(global_scale), tuple(local_scale)
        self.min_overlap, self.max_iou, self.key_index = min_overlap, max_iou, key_index
        self.max_attempts, self.channels, self.strength = max_attempts, channels, strength
        self.grayscale_prob, self.blur_prob, self.seed = grayscale_prob, blur_prob, seed
        self.stronger = bool(stronger)
        self.global_crop = RandomResizedCrop(global_size, global_size, scale=global_scale,
                                             seed=seed)
        self.local_crop = (RandomResizedCrop(local_size, local_size, scale=local_scale,
                                             seed=None if seed is None else seed + 1)
                           if num_local else None)
        gray = (0.0 if channels == 1 else 0.2) if grayscale_prob is None else grayscale_prob
        self.global_colour = simclr_augment(
            global_size, channels=channels, strength=strength, crop_scale=None,
            grayscale_prob=gray, blur_prob=blur_prob,
            seed=None if seed is None else seed + 2)
        self.local_colour = simclr_augment(
            local_size, channels=channels, strength=strength, crop_scale=None,
            grayscale_prob=gray, blur_prob=blur_prob,
            seed=None if seed is None else seed + 3) if num_local else None
        if self.stronger:  # A+: every view but the key crop
            self.global_colour_plus = StrongerAugment(
                self.global_colour, seed=None if seed is None else seed + 4)
            self.local_colour_plus = StrongerAugment(
                self.local_colour, seed=None if seed is None else seed + 5) if num_local else None

    def build(self, input_shape):
        self.built = True  # the crops and colour pipelines build on first call

    # -- geometry: boxes (y0, x0, h, w) in pixels ------------------------------
    def _candidates(self, crop, batch, height, width):
        boxes = crop.sample_boxes(batch * self.max_attempts, height, width)
        return tf.reshape(boxes, [batch, self.max_attempts, 4])

    @staticmethod
    def _first_valid(candidates, valid, fallback):
        index = tf.argmax(tf.cast(valid, tf.int32), axis=1, output_type=tf.int32)
        chosen = tf.gather(candidates, index, axis=1, batch_dims=1)
        found = tf.reduce_any(valid, axis=1)
        return tf.where(found[:, None], chosen, fallback), ~found

    def sample_global_boxes(self, batch, height, width):
        """``([B, 4], [B, 4], fell_back [B])``: the two global boxes."""
        first = self.global_crop.sample_boxes(batch, height, width)
        if self.max_iou is None:
            return first, self.global_crop.sample_boxes(batch, height, width), \
                tf.zeros([batch], tf.bool)
        candidates = self._candidates(self.global_crop, batch, height, width)
        valid = box_iou(candidates, first[:, None]) < self.max_iou
        half = tf.cast(width, tf.int32) // 2
        height_i = tf.cast(height, tf.int32)
        left = tf.tile(tf.stack([0, 0, height_i, half])[None], [batch, 1])
        right = tf.tile(tf.stack([0, half, height_i, tf.cast(width, tf.int32) - half])[None],
                        [batch, 1])
        second, fell_back = self._first_valid(candidates, valid, right)
        first = tf.where(fell_back[:, None], left, first)
        return first, second, fell_back

    def sample_local_boxes(self, key, height, width):
        """``(boxes [B, 4], fell_back [B])``: one local crop per image of ``key``'s batch."""
        batch = tf.shape(key)[0]
        candidates = self._candidates(self.local_crop, batch, height, width)
        if self.min_overlap is None:
            return candidates[:, 0], tf.zeros([batch], tf.bool)
        valid = overlap_share(candidates, key[:, None]) >= self.min_overlap
        # fallback: the first candidate's size, centred on the key crop, inside the image
        size = candidates[:, 0, 2:]
        centre = key[:, :2] + key[:, 2:] // 2
        corner = tf.clip_by_value(centre - size // 2, 0,
                                  tf.stack([tf.cast(height, tf.int32),
                                            tf.cast(width, tf.int32)]) - size)
        return self._first_valid(candidates, valid, tf.concat([corner, size], axis=1))

    def fallback_share(self, draws=10_000, height=224, width=224):
        """Share of local crops (and of IoU-limited pairs) that needed the fallback."""
        g1, g2, pair_fallback = self.sample_global_boxes(draws, height, width)
        shares = {"pairs": float(tf.reduce_mean(tf.cast(pair_fallback, tf.float32)))}
        if self.num_local:
            key = g2 if self.key_index == 1 else g1
            _, local_fallback = self.sample_local_boxes(key, height, width)
            shares["local"] = float(tf.reduce_mean(tf.cast(local_fallback, tf.float32)))
        return shares

    # -- views ------------------------------------------------------------------
    def call(self, images):
        images = tf.convert_to_tensor(images)
        if images.shape.rank == 3:
            raise ValueError("MultiCrop works on batches [B, H, W, C].")
        batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
        g1, g2, _ = self.sample_global_boxes(batch, height, width)
        global_views = tuple(
            (self.global_colour_plus if self.stronger and index != self.key_index
             else self.global_colour)(_crop(images, boxes, self.global_size), training=True)
            for index, boxes in enumerate((g1, g2)))
        key = (g1, g2)[self.key_index]
        local_colour = self.local_colour_plus if self.stronger else self.local_colour
        local_views = tuple(
            local_colour(_crop(images, self.sample_local_boxes(key, height, width)[0],
                               self.local_size), training=True)
            for _ in range(self.num_local))
        out = {"global": global_views}
        if local_views:
            out["local"] = local_views
        return out

    def get_config(self):
        return {**super().get_config(), **{name: getattr(self, name) for name in (
            "global_size", "local_size", "num_local", "global_scale", "local_scale",
            "min_overlap", "max_iou", "key_index", "max_attempts", "channels", "strength",
            "grayscale_prob", "blur_prob", "stronger", "seed")}}
