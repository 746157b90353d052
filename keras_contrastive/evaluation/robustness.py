"""Robustness of a classifier to the crop of its input: LeOCLR's random-crop test."""
import numpy as np
import tensorflow as tf

from keras_contrastive.evaluation.features import extract_features
from keras_contrastive.views.random_resized_crop import RandomResizedCrop


def random_crop_test(encoder, classifier, test, crop_scale=(0.08, 1.0), center_fraction=0.875,
                     seed=0, batch_size=512):
    """Accuracy on centre crops of the test images against random resized crops.

    LeOCLR (Alkhalefi et al., Table 6) asks whether a representation learnt
    from random crops still recognises an object shown only in part: the
    same classifier is evaluated on each test image's centre crop (the usual
    protocol) and on one random resized crop of it (``crop_scale`` of its
    area, aspect ratio 3/4-4/3, resized back to the input size).

    Args:
        encoder: images ``[B, H, W, C]`` in [0, 1] -> features (called with
            ``training=False``).
        classifier: features -> class scores ``[B, num_classes]`` (e.g. the
            ``Dense`` head of a linear probe or of a fine-tuned network).
        test: labelled images, as ``extract_features`` takes them (a
            ``tf.data.Dataset`` of ``(image, label)`` or ``(images, labels)``
            arrays; uint8 or float in [0, 1]).
        crop_scale: area range of the random crops.
        center_fraction: side of the centre crop relative to the image (0.875:
            ImageNet's 224 of 256; 1.0: the whole image), rounded to pixels.
        seed: seed of the random crops (the same crops every call).
        batch_size: images per call.

    Returns:
        ``{"center_crop_acc": a, "random_crop_acc": b, "drop": a - b}``.

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive.evaluation import random_crop_test
    >>> images = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 1), np.uint8)
    >>> encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    >>> result = random_crop_test(encoder, keras.layers.Dense(3), (images, np.arange(32) % 3))
    >>> sorted(result)
    ['center_crop_acc', 'drop', 'random_crop_acc']
    """
    if not 0.0 < center_fraction <= 1.0:
        raise ValueError(f"`center_fraction` must be in (0, 1], got {center_fraction!r}.")
    cropper = {}

    def center(images):  # the central round(f * side) pixels, resized back
        height, width = images.shape[1], images.shape[2]
        crop_h, crop_w = (max(1, int(round(center_fraction * side))) for side in (height, width))
        if (crop_h, crop_w) == (height, width):
            return images
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        return tf.image.resize(images[:, top:top + crop_h, left:left + crop_w, :],
                               (height, width))

    def random(images):
        if "layer" not in cropper:
            cropper["layer"] = RandomResizedCrop(images.shape[1], images.shape[2],
                                                 scale=crop_scale, seed=seed)
        return cropper["layer"](images, training=True)

    accuracies = {}
    for name, crop in (("center_crop_acc", center), ("random_crop_acc", random)):
        def predict(images, training=False, crop=crop):
            scores = classifier(encoder(crop(images), training=False), training=False)
            if len(scores.shape) != 2:
                raise ValueError(f"`classifier` must return class scores [B, classes], got "
                                 f"shape {tuple(scores.shape)}.")
            return scores

        scores, labels = extract_features(predict, test, batch_size=batch_size)
        accuracies[name] = float(np.mean(np.argmax(scores, axis=1) == labels))
    accuracies["drop"] = accuracies["center_crop_acc"] - accuracies["random_crop_acc"]
    return accuracies
