"""MAE's reconstruction loss: pixels of the masked patches (He et al. 2022)."""
import tensorflow as tf

from keras_contrastive._numerics import at_least_float32, xla_core


def patchify(images, patch_size):
    """Images ``[B, H, W, C]`` -> patches ``[B, (H/p)*(W/p), p*p*C]`` in row-major
    order (the order of a ViT's patch tokens); each patch's pixels row by row,
    channels last.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses.mae import patchify
    >>> images = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> patchify(images, 2).numpy()[0].tolist()
    [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0], [8.0, 9.0, 12.0, 13.0], [10.0, 11.0, 14.0, 15.0]]
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    rows, cols = height // patch_size, width // patch_size
    x = tf.reshape(images, [batch, rows, patch_size, cols, patch_size, channels])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [batch, rows * cols, patch_size * patch_size * channels])


@xla_core
def _masked_squared_error(predictions, targets, mask, norm_pix_loss):
    if norm_pix_loss:
        count = tf.cast(tf.shape(targets)[-1], targets.dtype)
        mean = tf.reduce_mean(targets, axis=-1, keepdims=True)
        # PyTorch's var(): unbiased, as the official code computes it
        var = tf.reduce_sum(tf.square(targets - mean), axis=-1, keepdims=True) / (count - 1)
        targets = (targets - mean) / tf.sqrt(var + 1e-6)
    per_patch = tf.reduce_mean(tf.square(predictions - targets), axis=-1)
    return tf.reduce_sum(per_patch * mask) / tf.reduce_sum(mask)


def mae_loss(predictions, targets, mask, norm_pix_loss=True):
    """MAE's loss (He et al. 2022, Sec. 3 "Reconstruction target"): the mean
    squared error between the decoder's predicted pixels and the image's
    pixels, averaged over the masked patches only.

    With ``norm_pix_loss`` each target patch is normalised by its own mean
    and standard deviation first (the paper's per-patch normalised pixels,
    its default; the official code's ``var`` is the unbiased one, ``+ 1e-6``):

        t' = (t - mean(t)) / sqrt(var(t) + 1e-6)
        l  = sum_i m_i * mean_j (p_ij - t'_ij)^2 / sum_i m_i

    over patches ``i`` (``m_i = 1`` masked, 0 visible) and pixels ``j``.  The
    value on each replica is the mean over its own masked patches: MAE masks
    the same number of patches in every image, so that is the global batch's
    mean and needs no gather.  The targets get no gradient.  In at least
    float32, XLA-compiled.

    Args:
        predictions: ``[B, N, P]`` predicted pixels of every patch (gradients flow).
        targets: ``[B, N, P]`` the images' patches (:func:`patchify`).
        mask: ``[B, N]``, 1 (or ``True``) on the masked patches.
        norm_pix_loss: normalise each target patch (True in the paper).

    Returns:
        A scalar (float32, or float64 for float64 inputs).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import mae_loss
    >>> targets = np.random.default_rng(0).random((2, 4, 12)).astype("float32")
    >>> mask = np.array([[1, 1, 0, 0], [0, 1, 1, 1]], "float32")
    >>> wrong_on_visible = np.where(mask[..., None] > 0, targets, 9.0)
    >>> float(mae_loss(wrong_on_visible, targets, mask, norm_pix_loss=False))
    0.0
    """
    predictions = at_least_float32(predictions)
    targets = tf.stop_gradient(tf.cast(targets, predictions.dtype))
    mask = tf.cast(mask, predictions.dtype)
    return _masked_squared_error(predictions, targets, mask, bool(norm_pix_loss))
