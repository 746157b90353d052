"""Several protocols in one call, on one extraction of the frozen features."""
from keras_contrastive.evaluation.dense import (
    class_activation_maps, dense_encoder, plot_class_activation_maps)
from keras_contrastive.evaluation.features import extract_features
from keras_contrastive.evaluation.finetune import finetune
from keras_contrastive.evaluation.knn import knn_metrics
from keras_contrastive.evaluation.linear_probe import (
    linear_probe, linear_probe_from_features, probe_classifier)
from keras_contrastive.evaluation.robustness import random_crop_test

__all__ = ["PROTOCOLS", "evaluate_encoder"]

PROTOCOLS = ("knn", "linear", "linear_sgd", "finetune", "random_crop", "cam")


def evaluate_encoder(encoder, train, test, protocols=("knn", "linear"), knn_k=200,
                     knn_temperature=0.1, seed=0, center_fraction=0.875, label_fraction=0.1,
                     epochs=10, cam_path=None, log=None):
    """The figures of ``protocols`` (any of ``PROTOCOLS``) for one encoder.

    * ``knn``: ``knn_acc`` (and ``knn_top5_acc`` with more than 5 classes).
    * ``linear``: ``linear_acc``, the L-BFGS probe.
    * ``random_crop``: the L-BFGS probe on centre vs random crops
      (``center_crop_acc``, ``random_crop_acc``, ``drop``).
    * ``cam``: class activation maps of the L-BFGS probe for the first 16
      test images, drawn to ``cam_path`` (also reports ``linear_acc``).
    * ``linear_sgd``: ``linear_sgd_acc``, the SGD probe for ``epochs``.
    * ``finetune``: ``finetune_<fraction>_acc``, the whole network trained on
      ``label_fraction`` of the labels for ``epochs``.

    Features are extracted once for kNN and the L-BFGS probe.  ``train`` and
    ``test`` are ``(images, labels)`` arrays.

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive.evaluation import evaluate_encoder
    >>> images = np.random.default_rng(0).integers(0, 256, (60, 8, 8, 1), np.uint8)
    >>> encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    >>> data = (images, np.arange(60) % 3)
    >>> sorted(evaluate_encoder(encoder, data, data, ("knn", "random_crop"), knn_k=5))
    ['center_crop_acc', 'drop', 'knn_acc', 'linear_acc', 'random_crop_acc']
    """
    protocols = tuple(protocols)
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown or not protocols:
        raise ValueError(f"protocols are {', '.join(PROTOCOLS)}; got {list(protocols)!r}.")
    if "cam" in protocols:
        if cam_path is None:
            raise ValueError("the 'cam' protocol needs `cam_path`, the picture to write.")
        dense_encoder(encoder)  # refuses an encoder without a feature map before any work
    figures = {}
    if {"knn", "linear", "random_crop", "cam"} & set(protocols):
        train_features, train_labels = extract_features(encoder, train)
        test_features, test_labels = extract_features(encoder, test)
    if "knn" in protocols:
        figures.update(knn_metrics(train_features, train_labels, test_features, test_labels,
                                   k=knn_k, temperature=knn_temperature))
    if {"linear", "random_crop", "cam"} & set(protocols):
        details = linear_probe_from_features(train_features, train_labels, test_features,
                                             test_labels, seed=seed, return_details=True)
        figures["linear_acc"] = details["accuracy"]
        if "random_crop" in protocols:
            figures.update(random_crop_test(encoder, probe_classifier(details), test,
                                            center_fraction=center_fraction, seed=seed))
        if "cam" in protocols:
            images = test[0][:16]
            cams = class_activation_maps(encoder, probe_classifier(details), images)
            plot_class_activation_maps(images, cams["maps"], cam_path, titles=[
                f"{truth}->{guess}" for truth, guess in zip(test[1][:16], cams["class_ids"])])
            if log:
                log(f"class activation maps of {len(images)} test images written to {cam_path}")
    if "linear_sgd" in protocols:
        figures["linear_sgd_acc"] = linear_probe(encoder, train, test, protocol="sgd",
                                                 epochs=epochs, seed=seed)
    if "finetune" in protocols:
        figures[f"finetune_{label_fraction:g}_acc"] = finetune(
            encoder, train, test, label_fraction=label_fraction, epochs=epochs, seed=seed,
            trainable=True)["accuracy"]
    return figures
