"""Semantic-mask views (the survey chapter's case study): geometric augmentation of class maps."""
import math

import keras
import tensorflow as tf

from keras_contrastive.views.random_resized_crop import RandomResizedCrop


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SemanticMaskViews(keras.layers.Layer):
    """One random view of a batch of integer class maps, one-hot encoded.

    Only geometric operations, all nearest-neighbour, so that no new label
    appears: a random resized crop whose area is at least ``min_crop_ratio``
    of the map (the chapter's "crop ratio", swept from 0.1 to 0.9), a
    rotation by at most ``max_angle`` degrees (edges extended with the
    nearest pixel, never a fill class), an optional horizontal flip, then a
    one-hot encoding over ``num_classes`` for the encoder.  No colour, no
    blur.  Build the views with ``make_views(masks, SemanticMaskViews(...),
    rescale=False)`` so the class ids reach the layer unscaled.

    Args:
        size: output side, or ``(height, width)`` (the chapter's masks: 64 x 80).
        num_classes: classes of the maps (ids ``0 .. num_classes - 1``).
        min_crop_ratio: least crop area as a share of the map (0.1-0.9).
        max_angle: rotation bound in degrees (3).
        flip: random horizontal flips.
        seed: seed of the random streams.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views import SemanticMaskViews
    >>> masks = np.random.randint(0, 5, (4, 32, 32, 1)).astype("float32")
    >>> SemanticMaskViews(32, num_classes=5, seed=0)(masks).shape
    TensorShape([4, 32, 32, 5])
    """

    def __init__(self, size, num_classes, min_crop_ratio=0.6, max_angle=3.0, flip=True,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < min_crop_ratio <= 1.0:
            raise ValueError(f"`min_crop_ratio` must be in (0, 1], got {min_crop_ratio!r}.")
        if not 0.0 <= max_angle < 180.0:
            raise ValueError(f"`max_angle` must be in [0, 180), got {max_angle!r}.")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
        if isinstance(size, (list, tuple)):
            if len(size) != 2:
                raise ValueError(f"`size` must be an int or (height, width), got {size!r}.")
            size = tuple(int(s) for s in size)
        height, width = size if isinstance(size, tuple) else (size, size)
        self.size, self.num_classes = size, num_classes
        self.min_crop_ratio, self.max_angle, self.flip, self.seed = (
            min_crop_ratio, max_angle, flip, seed)
        self.crop = RandomResizedCrop(height, width, scale=(min_crop_ratio, 1.0),
                                      interpolation="nearest", seed=seed)
        self.seed_generator = keras.random.SeedGenerator(None if seed is None else seed + 1)

    def build(self, input_shape):
        self.built = True

    def sample_angles(self, batch):
        """Rotation angles in radians, uniform in ``[-max_angle, max_angle]`` degrees."""
        bound = math.radians(self.max_angle)
        return keras.random.uniform([batch], -bound, bound, seed=self.seed_generator)

    def call(self, masks, training=True):
        masks = tf.convert_to_tensor(masks)
        if masks.shape.rank == 3:
            masks = masks[..., None]
        masks = tf.cast(masks, tf.float32)
        out = self.crop(masks, training=True)
        batch = tf.shape(out)[0]
        if self.max_angle > 0:
            out = _rotate_nearest(out, self.sample_angles(batch))
        if self.flip:
            flips = keras.random.uniform([batch], seed=self.seed_generator) < 0.5
            out = tf.where(flips[:, None, None, None], out[:, :, ::-1], out)
        ids = tf.cast(tf.round(out[..., 0]), tf.int32)
        return tf.one_hot(ids, self.num_classes, dtype=tf.float32)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "num_classes": self.num_classes,
                "min_crop_ratio": self.min_crop_ratio, "max_angle": self.max_angle,
                "flip": self.flip, "seed": self.seed}


def _rotate_nearest(images, angles):
    """Rotates each image about its centre, nearest-neighbour, edges extended."""
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    cos, sin = tf.cos(angles), tf.sin(angles)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    # output (x, y) <- input (a0 x + a1 y + a2, b0 x + b1 y + b2)
    transforms = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                           sin, cos, cy - sin * cx - cos * cy,
                           tf.zeros_like(cos), tf.zeros_like(cos)], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        interpolation="NEAREST", fill_mode="NEAREST", fill_value=0.0)
