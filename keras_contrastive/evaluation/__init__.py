"""Evaluation protocols: kNN, linear probe (L-BFGS or SGD), label-fraction
fine-tuning, Recall@N, the random-crop test, segment retrieval,
image-text retrieval and zero-shot accuracy of a dual encoder, segmentation
transfer (mIoU of a head on the frozen feature map) and class activation maps.

All functions take labelled data as a ``tf.data.Dataset`` of ``(image, label)``
(batched or unbatched, uint8 or float images) or a tuple ``(images, labels)``
of NumPy arrays, and an encoder mapping float32 images in [0, 1] to ``[B, D]``.
"""
from keras_contrastive.evaluation.cross_modal import (
    chance_recall, evaluate_dual_encoder, image_text_retrieval, zero_shot_accuracy)
from keras_contrastive.evaluation.dense import (
    class_activation_maps, dense_encoder, dense_features, plot_class_activation_maps, plot_segments,
    pointing_game, segment_retrieval)
from keras_contrastive.evaluation.features import extract_features, labelled_arrays
from keras_contrastive.evaluation.finetune import crop_flip, finetune, label_fraction_subset
from keras_contrastive.evaluation.knn import knn_accuracy, knn_metrics, knn_predict
from keras_contrastive.evaluation.linear_probe import (
    linear_probe, linear_probe_from_features, probe_classifier)
from keras_contrastive.evaluation.masks import mean_iou
from keras_contrastive.evaluation.retrieval import recall_at_n
from keras_contrastive.evaluation.segmentation import SEGMENTATION_HEADS, segmentation_transfer
from keras_contrastive.evaluation.protocols import PROTOCOLS, evaluate_encoder
from keras_contrastive.evaluation.robustness import random_crop_test

__all__ = [
    "PROTOCOLS",
    "evaluate_encoder",
    "chance_recall",
    "class_activation_maps",
    "evaluate_dual_encoder",
    "image_text_retrieval",
    "zero_shot_accuracy",
    "crop_flip",
    "dense_encoder",
    "dense_features",
    "labelled_arrays",
    "plot_class_activation_maps",
    "plot_segments",
    "pointing_game",
    "segment_retrieval",
    "extract_features",
    "finetune",
    "label_fraction_subset",
    "recall_at_n",
    "knn_predict",
    "knn_accuracy",
    "knn_metrics",
    "linear_probe",
    "linear_probe_from_features",
    "probe_classifier",
    "random_crop_test",
    "mean_iou",
    "segmentation_transfer",
    "SEGMENTATION_HEADS",
]
