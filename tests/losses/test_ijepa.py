"""ijepa_loss against a NumPy transcription of the paper's loss (Assran et al. 2023, Sec. 3:
1/M sum_i sum_{j in B_i} ||s^_j - s_j||^2, per patch and dimension, with the official code's
``F.layer_norm`` of the targets), one block and one patch at a time; values and gradients."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import ijepa_loss


def numpy_layer_norm(h):
    """``torch.nn.functional.layer_norm(h, (D,))``: biased variance, eps 1e-5, no affine."""
    return (h - h.mean()) / np.sqrt(h.var() + 1e-5)


def numpy_ijepa_loss(predictions, targets, normalize_targets):
    """For each image: 1/M sum over blocks of the mean over the block's patches of
    ||s^_j - s_j||^2 / D; then the mean over the images."""
    per_image = []
    for image in range(predictions.shape[0]):
        blocks = []
        for block in range(predictions.shape[1]):
            errors = []
            for patch in range(predictions.shape[2]):
                s = targets[image, block, patch].astype(np.float64)
                if normalize_targets:
                    s = numpy_layer_norm(s)
                d = predictions[image, block, patch].astype(np.float64) - s
                errors.append(np.sum(d ** 2) / d.size)
            blocks.append(np.mean(errors))
        per_image.append(np.mean(blocks))
    return float(np.mean(per_image))


def _inputs(shape, seed):
    rng = np.random.default_rng(seed)
    targets = (rng.normal(size=shape) * 3 + 1).astype(np.float32)
    return rng.normal(size=shape).astype(np.float32), targets


@pytest.mark.parametrize("normalize_targets", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (2, 4, 3, 8), (3, 2, 5, 16)])
def test_ijepa_loss_equals_numpy(normalize_targets, shape):
    predictions, targets = _inputs(shape, seed=sum(shape))
    np.testing.assert_allclose(float(ijepa_loss(predictions, targets, normalize_targets)),
                               numpy_ijepa_loss(predictions, targets, normalize_targets),
                               rtol=1e-5, atol=1e-5)


def test_the_gradient_matches_finite_differences_and_the_targets_get_none():
    predictions, targets = (tf.constant(a, tf.float64) for a in _inputs((2, 2, 3, 5), seed=3))
    with tf.GradientTape() as tape:
        tape.watch([predictions, targets])
        loss = ijepa_loss(predictions, targets)
    grad, target_grad = tape.gradient(loss, [predictions, targets])
    assert target_grad is None
    grad, eps = grad.numpy(), 1e-6
    numeric = np.zeros_like(grad)
    for index in np.ndindex(*grad.shape):
        step = np.zeros(grad.shape)
        step[index] = eps
        numeric[index] = (numpy_ijepa_loss(predictions.numpy() + step, targets.numpy(), True)
                          - numpy_ijepa_loss(predictions.numpy() - step, targets.numpy(), True)
                          ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
