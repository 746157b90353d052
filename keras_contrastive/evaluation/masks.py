"""Segmentation masks: the (images, masks) check and the mean IoU every dense protocol scores by."""
import numpy as np

__all__ = ["check_mask_pairs", "mean_iou"]


def check_mask_pairs(name, images, masks):
    """``(images, masks)`` as arrays (masks int64), or a ValueError naming ``name``.

    >>> import numpy as np
    >>> from keras_contrastive.evaluation.masks import check_mask_pairs
    >>> images, masks = check_mask_pairs("train", np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 4), int))
    >>> masks.dtype
    dtype('int64')
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or masks.ndim != 3 or len(images) != len(masks) or len(images) == 0:
        raise ValueError(
            f"`{name}` must be (images [N, H, W, C], masks [N, H, W]) with the same N > 0; got "
            f"shapes {images.shape} and {masks.shape}.")
    if masks.dtype.kind not in "iu":
        raise ValueError(f"`{name}` masks must hold integer class ids; got dtype {masks.dtype}.")
    return images, masks.astype(np.int64)


def mean_iou(masks, predictions, num_classes, ignore_index=255):
    """Mean intersection-over-union over the classes present in the masks or the predictions.

    Returns ``{"miou", "pixel_acc", "iou"}``; ``iou`` is ``[num_classes]``
    with NaN for a class absent from both.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import mean_iou
    >>> masks = np.array([[[0, 0, 1, 1]]]); predictions = np.array([[[0, 1, 1, 1]]])
    >>> result = mean_iou(masks, predictions, num_classes=3)
    >>> round(result["miou"], 4), result["pixel_acc"]  # (1/2 + 2/3) / 2
    (0.5833, 0.75)
    """
    masks = np.asarray(masks).astype(np.int64)
    predictions = np.asarray(predictions).astype(np.int64)
    if masks.shape != predictions.shape:
        raise ValueError(f"masks {masks.shape} and predictions {predictions.shape} differ in shape.")
    keep = masks != ignore_index
    if not keep.any():
        raise ValueError("every pixel is `ignore_index`: nothing to score.")
    if masks[keep].max() >= num_classes or predictions[keep].max() >= num_classes:
        raise ValueError(f"a class id >= num_classes={num_classes} in the masks or predictions.")
    confusion = np.bincount(masks[keep] * num_classes + predictions[keep],
                            minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    true_positive = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    iou = np.where(union > 0, true_positive / np.maximum(union, 1), np.nan)
    return {"miou": float(np.nanmean(iou)), "pixel_acc": float(true_positive.sum() / keep.sum()),
            "iou": iou}
