"""Inception-style random resized crop, vectorised over a batch."""
import math
import numbers

import keras
import tensorflow as tf

from keras_contrastive._checks import is_int, is_positive_int

_INTERPOLATIONS = ("bilinear", "nearest")


def _as_pair(value, name):
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool)
            for v in value
        )
    ):
        raise ValueError(
            f"`{name}` must be a tuple of two numbers. Received: {name}={value!r}"
        )
    return float(value[0]), float(value[1])


def crop_and_resize_boxes(images, boxes, height, width, method="bilinear", box_indices=None):
    """Crops pixel boxes ``(y0, x0, h, w)`` of ``images`` and resizes them.

    Box ``i`` is cut from image ``i``, or from image ``box_indices[i]`` when
    given (e.g. several boxes of one image).

    A coordinate y maps to the pixel centre y, so the crop spans the centres
    of its first and last rows / columns.  The images are padded by one
    replicated edge pixel first: at a box's far edge, float rounding in
    ``crop_and_resize`` can land just outside the image, where it would
    write its extrapolation value 0 (a black row, or a class-0 row in a
    class map); in the padding it reads the edge pixel instead.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.random_resized_crop import crop_and_resize_boxes
    >>> image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> crop_and_resize_boxes(image, [[0.0, 0.0, 2.0, 2.0]], 2, 2)[0, ..., 0].numpy()  # top-left 2x2
    array([[0., 1.],
           [4., 5.]], dtype=float32)
    """
    shape = tf.shape(images)
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    boxes = tf.cast(boxes, "float32")
    y0, x0, h, w = tf.unstack(boxes, axis=-1)
    denom_h = tf.cast(shape[1], "float32") + 1.0  # padded height - 1
    denom_w = tf.cast(shape[2], "float32") + 1.0
    normalized = tf.stack([(y0 + 1.0) / denom_h, (x0 + 1.0) / denom_w,
                           (y0 + h) / denom_h, (x0 + w) / denom_w], axis=-1)
    if box_indices is None:
        box_indices = tf.range(shape[0])
    return tf.image.crop_and_resize(padded, normalized, box_indices=box_indices,
                                    crop_size=(height, width), method=method)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomResizedCrop(keras.layers.Layer):
    """Crops a random part of each image and resizes it to a fixed size.

    The crop is the one of Inception / torchvision's `RandomResizedCrop`:
    for every sample, up to 10 candidate boxes are drawn (all at once,
    vectorised) with an area of `U(scale) * H * W` pixels and an aspect
    ratio `width / height` drawn log-uniformly from `ratio`:
    `w = round(sqrt(area * r))`, `h = round(sqrt(area / r))`.  The first
    candidate that fits inside the image is used, at a uniformly random
    position.  If none of the 10 fits, the fallback is torchvision's: a
    central crop of the whole image with its aspect ratio clamped into
    `ratio`.  Every sample of a batch gets its own crop; the crops are
    resized with `tf.image.crop_and_resize` (pixel-centre aligned, no
    antialiasing).

    With `training=False` (e.g. inside `model.predict`) the layer is
    deterministic: it takes the largest central crop with the target aspect
    ratio `width / height` and resizes it (for a square image and a square
    target this is a plain resize of the whole image).

    The layer works on one image `[H, W, C]` or a batch `[B, H, W, C]`,
    eagerly, inside a `tf.data` map and inside a Keras model.  It does not
    rescale values: a `uint8` input comes out as `float32` in `[0, 255]`.
    Randomness comes from a Keras `SeedGenerator` whose state advances on
    every call, so crops differ per sample, per call and per epoch, also
    inside `tf.data` (TensorFlow backend).

    Args:
        height: Positive int, height of the output crops.
        width: Positive int, width of the output crops.
        scale: Tuple `(min, max)` with `0 < min <= max <= 1`: range of the
            crop area as a fraction of the image area. Defaults to
            `(0.08, 1.0)`.
        ratio: Tuple `(min, max)` with `0 < min <= max`: range of the crop
            aspect ratio `width / height`, sampled log-uniformly. Defaults to
            `(3/4, 4/3)`.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        seed: Optional int, seed of the layer's random stream.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    ```python
    import numpy as np
    from keras_contrastive.views import RandomResizedCrop

    crop = RandomResizedCrop(24, 24, scale=(0.2, 1.0), seed=0)
    images = np.random.uniform(size=(8, 28, 28, 1)).astype("float32")
    crops = crop(images)                     # [8, 24, 24, 1], one crop each
    boxes = crop.sample_boxes(8, 28, 28)     # int32 [8, 4]: y0, x0, h, w
    ```
    """

    _NUM_ATTEMPTS = 10

    def __init__(
        self,
        height,
        width,
        scale=(0.08, 1.0),
        ratio=(3.0 / 4.0, 4.0 / 3.0),
        interpolation="bilinear",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not is_positive_int(height):
            raise ValueError(
                f"`height` must be a positive integer. Received: height={height!r}"
            )
        if not is_positive_int(width):
            raise ValueError(
                f"`width` must be a positive integer. Received: width={width!r}"
            )
        scale = _as_pair(scale, "scale")
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(
                "`scale` must satisfy 0 < scale[0] <= scale[1] <= 1. "
                f"Received: scale={scale}"
            )
        ratio = _as_pair(ratio, "ratio")
        if not 0.0 < ratio[0] <= ratio[1] or math.isinf(ratio[1]):
            raise ValueError(
                "`ratio` must satisfy 0 < ratio[0] <= ratio[1] < inf. "
                f"Received: ratio={ratio}"
            )
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        if seed is not None and not is_int(seed):
            raise ValueError(
                f"`seed` must be None or an integer. Received: seed={seed!r}"
            )
        self.height = int(height)
        self.width = int(width)
        self.scale = scale
        self.ratio = ratio
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def sample_boxes(self, batch_size, image_height, image_width):
        """Draws one random crop box per sample, in pixels.

        Args:
            batch_size: Number of boxes (int or scalar tensor).
            image_height: Height of the images (int or scalar tensor).
            image_width: Width of the images (int or scalar tensor).

        Returns:
            An `int32` tensor `[batch_size, 4]` of boxes `(y0, x0, h, w)`:
            the crop covers rows `y0 .. y0 + h - 1` and columns
            `x0 .. x0 + w - 1`.
        """
        shape = tf.stack([batch_size, self._NUM_ATTEMPTS])
        img_h = tf.cast(image_height, "float32")
        img_w = tf.cast(image_width, "float32")
        area = img_h * img_w

        target_area = area * keras.random.uniform(
            shape,
            minval=self.scale[0],
            maxval=self.scale[1],
            seed=self.seed_generator,
        )
        log_ratio = keras.random.uniform(
            shape,
            minval=math.log(self.ratio[0]),
            maxval=math.log(self.ratio[1]),
            seed=self.seed_generator,
        )
        aspect = tf.exp(log_ratio)
        w = tf.round(tf.sqrt(target_area * aspect))
        h = tf.round(tf.sqrt(target_area / aspect))
        fits = (w > 0) & (w <= img_w) & (h > 0) & (h <= img_h)

        # First attempt that fits (argmax returns the first maximum).
        first = tf.argmax(tf.cast(fits, "int32"), axis=1, output_type="int32")
        found = tf.reduce_any(fits, axis=1)
        w = tf.gather(w, first, batch_dims=1)
        h = tf.gather(h, first, batch_dims=1)

        # torchvision's fallback: central crop, aspect ratio clamped to ratio.
        in_ratio = img_w / img_h
        fallback_w = tf.where(
            in_ratio > self.ratio[1], tf.round(img_h * self.ratio[1]), img_w
        )
        fallback_h = tf.where(
            in_ratio < self.ratio[0], tf.round(img_w / self.ratio[0]), img_h
        )
        w = tf.where(found, w, fallback_w)
        h = tf.where(found, h, fallback_h)

        offsets = keras.random.uniform(
            tf.stack([batch_size, 2]), seed=self.seed_generator
        )
        y0 = tf.minimum(tf.floor(offsets[:, 0] * (img_h - h + 1.0)), img_h - h)
        x0 = tf.minimum(tf.floor(offsets[:, 1] * (img_w - w + 1.0)), img_w - w)
        y0 = tf.where(found, y0, tf.floor((img_h - h) / 2.0))
        x0 = tf.where(found, x0, tf.floor((img_w - w) / 2.0))
        return tf.cast(tf.stack([y0, x0, h, w], axis=-1), "int32")

    def _center_boxes(self, batch_size, image_height, image_width):
        img_h = tf.cast(image_height, "float32")
        img_w = tf.cast(image_width, "float32")
        target = self.width / self.height
        w = tf.where(img_w / img_h > target, tf.round(img_h * target), img_w)
        h = tf.where(img_w / img_h < target, tf.round(img_w / target), img_h)
        w = tf.clip_by_value(w, 1.0, img_w)
        h = tf.clip_by_value(h, 1.0, img_h)
        box = tf.stack(
            [tf.floor((img_h - h) / 2.0), tf.floor((img_w - w) / 2.0), h, w]
        )
        return tf.tile(tf.cast(box, "int32")[None], tf.stack([batch_size, 1]))

    def call(self, inputs, training=True):
        images = tf.convert_to_tensor(inputs)
        rank = images.shape.rank
        if rank not in (3, 4):
            raise ValueError(
                "RandomResizedCrop expects one image [H, W, C] or a batch "
                f"[B, H, W, C]. Received: inputs.shape={images.shape}"
            )
        if rank == 3:
            images = images[None]
        shape = tf.shape(images)
        batch_size, img_h, img_w = shape[0], shape[1], shape[2]
        if training:
            boxes = self.sample_boxes(batch_size, img_h, img_w)
        else:
            boxes = self._center_boxes(batch_size, img_h, img_w)

        outputs = crop_and_resize_boxes(images, boxes, self.height, self.width,
                                        self.interpolation)
        outputs = tf.cast(outputs, self.compute_dtype)
        if rank == 3:
            outputs = outputs[0]
        return outputs

    def compute_output_shape(self, input_shape):
        input_shape = list(input_shape)
        input_shape[-3] = self.height
        input_shape[-2] = self.width
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "height": self.height,
                "width": self.width,
                "scale": self.scale,
                "ratio": self.ratio,
                "interpolation": self.interpolation,
                "seed": self.seed,
            }
        )
        return config
