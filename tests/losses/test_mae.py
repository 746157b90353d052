"""mae_loss and patchify against a NumPy transcription of the paper's loss (the official
code's ``patchify`` and ``forward_loss``, one patch at a time)."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import mae_loss
from keras_contrastive.losses.mae import patchify


def numpy_patchify(images, p):
    """MAE's ``patchify`` (NCHW einsum ``nchpwq->nhwpqc``), on NHWC images."""
    n, h, w, c = images.shape
    x = images.reshape(n, h // p, p, w // p, p, c)
    return np.einsum("nhpwqc->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)


def numpy_mae_loss(predictions, targets, mask, norm_pix_loss):
    """He et al. 2022: the mean over the masked patches of each patch's mean squared
    error; with norm_pix_loss the target patch is (t - mean) / sqrt(var + 1e-6),
    var the unbiased variance (PyTorch's ``var``, as the official code)."""
    total, count = 0.0, 0.0
    for image in range(targets.shape[0]):
        for patch in range(targets.shape[1]):
            t = targets[image, patch].astype(np.float64)
            if norm_pix_loss:
                t = (t - t.mean()) / np.sqrt(t.var(ddof=1) + 1e-6)
            error = np.mean((predictions[image, patch] - t) ** 2)
            total += mask[image, patch] * error
            count += mask[image, patch]
    return total / count


def _inputs(n, patches, pixels, seed):
    rng = np.random.default_rng(seed)
    targets = rng.random((n, patches, pixels)).astype(np.float32)
    predictions = rng.normal(size=(n, patches, pixels)).astype(np.float32)
    mask = np.zeros((n, patches), np.float32)
    for row in mask:  # MAE hides the same number of patches in each image
        row[rng.choice(patches, max(1, 3 * patches // 4), replace=False)] = 1
    return predictions, targets, mask


@pytest.mark.parametrize("norm_pix_loss", [True, False])
@pytest.mark.parametrize("n,patches,pixels", [(1, 4, 3), (4, 16, 49), (3, 49, 16)])
def test_mae_loss_equals_numpy(norm_pix_loss, n, patches, pixels):
    predictions, targets, mask = _inputs(n, patches, pixels, seed=n + patches)
    np.testing.assert_allclose(
        float(mae_loss(predictions, targets, mask, norm_pix_loss)),
        numpy_mae_loss(predictions, targets, mask, norm_pix_loss), rtol=1e-5, atol=1e-5)


def test_constant_patches_normalise_to_zero_and_boolean_masks_are_accepted():
    """A blank patch (Fashion-MNIST's background) has the target 0 under
    norm_pix_loss: 1e-6 keeps the division finite."""
    targets = np.zeros((1, 2, 4), np.float32)
    predictions = np.ones((1, 2, 4), np.float32)
    assert float(mae_loss(predictions, targets, np.array([[True, False]]))) == 1.0


def test_patchify_equals_the_official_patchify():
    images = np.random.default_rng(1).random((2, 12, 12, 3)).astype(np.float32)
    np.testing.assert_array_equal(patchify(images, 4).numpy(), numpy_patchify(images, 4))


def test_only_masked_patches_count_and_the_gradient_matches_finite_differences():
    predictions, targets, mask = (tf.constant(a, tf.float64) for a in _inputs(2, 4, 5, seed=7))
    with tf.GradientTape() as tape:
        tape.watch([predictions, targets])
        loss = mae_loss(predictions, targets, mask)
    grad, target_grad = tape.gradient(loss, [predictions, targets])
    assert target_grad is None  # the targets get no gradient
    grad = grad.numpy()
    assert np.all(grad[mask.numpy() == 0] == 0)  # visible patches do not count
    eps, numeric = 1e-6, np.zeros_like(grad)
    for index in np.ndindex(*grad.shape):
        step = np.zeros(grad.shape)
        step[index] = eps
        numeric[index] = (numpy_mae_loss(predictions.numpy() + step, targets.numpy(),
                                         mask.numpy(), True)
                          - numpy_mae_loss(predictions.numpy() - step, targets.numpy(),
                                           mask.numpy(), True)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
