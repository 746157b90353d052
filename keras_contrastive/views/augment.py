"""SimCLR's augmentation recipe as a `keras.Sequential` of preprocessing layers."""
import numbers

import keras

from keras_contrastive._checks import is_int, is_positive_int
from keras_contrastive.views.random_apply import RandomApply
from keras_contrastive.views.random_resized_crop import RandomResizedCrop

# Largest strength every Keras jitter factor accepts: brightness and contrast
# factors 0.8 * strength must stay <= 1.
MAX_STRENGTH = 1.25


@keras.saving.register_keras_serializable(
    package="keras_contrastive", name="Solarization"
)
class _Solarization(keras.layers.Solarization):
    """`keras.layers.Solarization` with its threshold range in `value_range`.

    Keras 3.15 draws the threshold from `U(threshold_factor[0],
    threshold_factor[1] * 255)` (the lower bound is not rescaled, same for
    `addition_factor`), so `threshold_factor=(0.5, 0.5)` gives a random
    threshold in `(0.5 / 255, 0.5)` instead of the fixed 0.5 of SimCLR /
    BYOL.  This subclass rescales both bounds.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        shape = self.backend.shape(images)
        factor_shape = (shape[0], 1, 1, 1) if len(shape) == 4 else (1, 1, 1)
        if seed is None:
            seed = self._get_seed_generator(self.backend._backend)
        return {
            "additions": self.backend.random.uniform(
                minval=self.addition_factor[0] * 255,
                maxval=self.addition_factor[1] * 255,
                shape=factor_shape,
                seed=seed,
                dtype=self.compute_dtype,
            ),
            "thresholds": self.backend.random.uniform(
                minval=self.threshold_factor[0] * 255,
                maxval=self.threshold_factor[1] * 255,
                shape=factor_shape,
                seed=seed,
                dtype=self.compute_dtype,
            ),
        }


def _image_size(image_size):
    if is_positive_int(image_size):
        return int(image_size), int(image_size)
    if (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(is_positive_int(v) for v in image_size)
    ):
        return int(image_size[0]), int(image_size[1])
    raise ValueError(
        "`image_size` must be a positive int or a tuple (height, width) of "
        f"positive ints. Received: image_size={image_size!r}"
    )


def _probability(value, name):
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0.0 <= value <= 1.0
    ):
        raise ValueError(
            f"`{name}` must be a number in [0, 1]. Received: {name}={value!r}"
        )
    return float(value)


def simclr_augment(
    image_size,
    channels=3,
    strength=1.0,
    crop_scale=(0.08, 1.0),
    jitter_prob=0.8,
    grayscale_prob=0.2,
    blur_prob=0.0,
    solarize_prob=0.0,
    flip=True,
    seed=None,
):
    """Builds SimCLR's random augmentation as a `keras.Sequential`.

    The layers, in order (a layer whose probability is 0 is left out):

    1. `RandomResizedCrop(image_size, scale=crop_scale)`.
    2. `keras.layers.RandomFlip("horizontal")` if `flip`.
    3. `RandomApply(keras.layers.RandomColorJitter(...), jitter_prob)`, with
       the jitter of SimCLR at strength `s`, mapped onto Keras' factors:
       * brightness: Keras adds a per-image delta `U(-0.8 s, 0.8 s)` (in
         units of the [0, 1] range; SimCLR v1's additive
         `tf.image.random_brightness(max_delta=0.8 s)`);
       * contrast: `(x - mean) * U(1 - 0.8 s, 1 + 0.8 s) + mean`, per
         channel (as torchvision's `contrast=0.8 s`; passed to Keras as the
         pair `(0.8 s, 0.8 s)`, since a single float would only ever
         increase contrast);
       * saturation (3 channels only): the saturation is multiplied by
         `U(max(0, 1 - 0.8 s), 1 + 0.8 s)` (torchvision's `saturation=0.8 s`;
         Keras' factor `f` multiplies by `f / (1 - f)`, so the factor range
         passed is `m / (1 + m)` of those bounds);
       * hue (3 channels only): hue shift `U(-0.2 s, 0.2 s)` turns
         (torchvision's `hue=0.2 s`; Keras shifts by `±f / 2`).
       Keras applies the four in this fixed order (torchvision and SimCLR
       shuffle the order per image).  So `strength=0.5` gives brightness and
       contrast jitter of 0.4.
    4. `keras.layers.RandomGrayscale(grayscale_prob)` (3 channels only).
    5. `RandomApply(keras.layers.RandomGaussianBlur(...), blur_prob)`: kernel
       `min(height, width) // 10` rounded up to odd (at least 3), sigma in
       `(0.1, 2.0)`.  Note: Keras draws sigma (one per axis) once per call,
       not per image, and zero-pads the borders.
    6. `RandomApply(Solarization(threshold 0.5), solarize_prob)`.

    Input: float images in [0, 1], `[B, H, W, channels]` (or one image);
    output: float32 `[B, height, width, channels]` in [0, 1] (every colour
    layer clips to `value_range=(0, 1)`).  For `channels=1` the colour-only
    operations (saturation, hue, grayscale) are left out and the jitter is
    brightness + contrast only.

    The quality protocol of this library (28x28 Fashion-MNIST) is
    `simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0),
    grayscale_prob=0.0)`.

    Args:
        image_size: Int or tuple `(height, width)`, size of the views.
        channels: 1 or 3, channels of the images.
        strength: Colour-jitter strength `s` in `[0, 1.25]` (1.25 is the
            largest value Keras' brightness and contrast factors accept).
            0 leaves the jitter out.
        crop_scale: Area range of the random crop, `0 < a <= b <= 1`, or
            `None` for no crop: the whole image resized to `image_size`
            (the "original image" view of LeOCLR).
        jitter_prob: Probability of colour jitter per image.
        grayscale_prob: Probability of grayscale conversion per image.
        blur_prob: Probability of Gaussian blur per image.
        solarize_prob: Probability of solarization per image.
        flip: Whether to flip horizontally with probability 0.5.
        seed: Optional int; layer `i` gets seed `seed + i`.

    Returns:
        A `keras.Sequential` named `"simclr_augment"`.

    Example:

    ```python
    import numpy as np
    from keras_contrastive.views import simclr_augment

    augment = simclr_augment(28, channels=1, strength=0.5,
                             crop_scale=(0.2, 1.0), grayscale_prob=0.0)
    images = np.random.uniform(size=(8, 28, 28, 1)).astype("float32")
    views = augment(images)        # float32 [8, 28, 28, 1] in [0, 1]
    ```
    """
    height, width = _image_size(image_size)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    if (
        not isinstance(strength, numbers.Real)
        or isinstance(strength, bool)
        or not 0.0 <= strength <= MAX_STRENGTH
    ):
        raise ValueError(
            f"`strength` must be a number in [0, {MAX_STRENGTH}]. "
            f"Received: strength={strength!r}"
        )
    jitter_prob = _probability(jitter_prob, "jitter_prob")
    grayscale_prob = _probability(grayscale_prob, "grayscale_prob")
    blur_prob = _probability(blur_prob, "blur_prob")
    solarize_prob = _probability(solarize_prob, "solarize_prob")
    if not isinstance(flip, bool):
        raise ValueError(f"`flip` must be a bool. Received: flip={flip!r}")
    if seed is not None and not is_int(seed):
        raise ValueError(f"`seed` must be None or an integer. Received: seed={seed!r}")

    def seed_for(index):
        return None if seed is None else int(seed) + index

    if crop_scale is None:  # the whole image, resized (LeOCLR's original view)
        layers = [keras.layers.Resizing(height, width, name="resize")]
    else:
        layers = [
            RandomResizedCrop(
                height,
                width,
                scale=crop_scale,
                seed=seed_for(0),
                name="random_resized_crop",
            )
        ]
    if flip:
        layers.append(
            keras.layers.RandomFlip("horizontal", seed=seed_for(1), name="random_flip")
        )
    if strength > 0 and jitter_prob > 0:
        s = float(strength)
        color = {}
        if channels == 3:
            low, high = max(0.0, 1.0 - 0.8 * s), 1.0 + 0.8 * s
            color = {
                "saturation_factor": (low / (1.0 + low), high / (1.0 + high)),
                "hue_factor": (0.0, 2.0 * 0.2 * s),
            }
        jitter = keras.layers.RandomColorJitter(
            value_range=(0, 1),
            brightness_factor=0.8 * s,
            # A single float f gives Keras' RandomContrast the range
            # [1, 1 + f] only (its bounds are clipped at 0); the pair (f, f)
            # gives [1 - f, 1 + f].
            contrast_factor=(0.8 * s, 0.8 * s),
            seed=seed_for(2),
            name="color_jitter",
            **color,
        )
        layers.append(
            RandomApply(
                jitter, jitter_prob, seed=seed_for(3), name="random_color_jitter"
            )
        )
    if channels == 3 and grayscale_prob > 0:
        layers.append(
            keras.layers.RandomGrayscale(
                factor=grayscale_prob, seed=seed_for(4), name="random_grayscale"
            )
        )
    if blur_prob > 0:
        kernel_size = max(3, (min(height, width) // 10) | 1)
        blur = keras.layers.RandomGaussianBlur(
            factor=(1.0, 1.0),  # always blur: RandomApply draws the probability
            kernel_size=kernel_size,
            sigma=(0.1, 2.0),
            value_range=(0, 1),
            seed=seed_for(5),
            name="gaussian_blur",
        )
        layers.append(
            RandomApply(
                blur, blur_prob, seed=seed_for(6), name="random_gaussian_blur"
            )
        )
    if solarize_prob > 0:
        solarize = _Solarization(
            threshold_factor=(0.5, 0.5),
            value_range=(0, 1),
            seed=seed_for(7),
            name="solarization",
        )
        layers.append(
            RandomApply(
                solarize, solarize_prob, seed=seed_for(8), name="random_solarization"
            )
        )
    augment = keras.Sequential(layers, name="simclr_augment")
    augment.image_channels = channels  # what make_views(fused_decode=True) decodes to
    # augmentation runs in float32 whatever the global policy: under
    # mixed_bfloat16 crop_and_resize has no bfloat16 kernel, and the model
    # casts its inputs to its own compute dtype anyway
    for layer in [augment, *layers, *(l.layer for l in layers if isinstance(l, RandomApply))]:
        layer.dtype_policy = "float32"
    return augment
