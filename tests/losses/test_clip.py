"""clip_loss against a NumPy transcription of CLIP's pseudo-code (Radford et al. 2021, Fig. 3)."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import clip_loss


def _cross_entropy(logits, labels, axis):
    """Mean cross-entropy of ``labels`` along ``axis`` (Fig. 3's ``cross_entropy_loss``)."""
    logits = np.moveaxis(logits, axis, -1) if axis == 0 else logits
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probability = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_probability[np.arange(len(labels)), labels])


def numpy_clip(image_features, text_features, t):
    """Fig. 3, from the embeddings on (the projections W_i, W_t are the towers'):
    I_e = l2_normalize(I_f), T_e = l2_normalize(T_f);
    logits = np.dot(I_e, T_e.T) * np.exp(t); labels = np.arange(n);
    loss_i = cross_entropy_loss(logits, labels, axis=0) (each text over the images);
    loss_t = cross_entropy_loss(logits, labels, axis=1) (each image over the texts);
    loss = (loss_i + loss_t) / 2.  The scale clipped at 100 as CLIP's training does."""
    i_e = image_features / np.linalg.norm(image_features, axis=1, keepdims=True)
    t_e = text_features / np.linalg.norm(text_features, axis=1, keepdims=True)
    logits = i_e @ t_e.T * min(np.exp(t), 100.0)
    labels = np.arange(len(i_e))
    return (_cross_entropy(logits, labels, 0) + _cross_entropy(logits, labels, 1)) / 2


@pytest.mark.parametrize("t", [np.log(1 / 0.07), 0.0, np.log(100.0) + 0.5])
@pytest.mark.parametrize("n", [1, 8, 13])
def test_clip_loss_equals_numpy(n, t):
    rng = np.random.default_rng(n)
    images = rng.normal(size=(n, 12)).astype(np.float32)
    texts = (images + rng.normal(size=(n, 12))).astype(np.float32)
    np.testing.assert_allclose(float(clip_loss(images, texts, np.float32(t))),
                               numpy_clip(images.astype(np.float64), texts.astype(np.float64), t),
                               rtol=1e-5, atol=1e-5)


def test_the_two_directions_are_not_the_same_cross_entropy():
    """Fig. 3's axis=0 and axis=1 differ on a batch where they disagree: the transcription is
    not a doubled one-way loss."""
    rng = np.random.default_rng(5)
    images, texts = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    i_e = images / np.linalg.norm(images, axis=1, keepdims=True)
    t_e = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    logits = i_e @ t_e.T * 10
    assert abs(_cross_entropy(logits, np.arange(6), 0)
               - _cross_entropy(logits, np.arange(6), 1)) > 1e-3
    np.testing.assert_allclose(float(clip_loss(images, texts, np.log(10.0))),
                               numpy_clip(images, texts, np.log(10.0)), rtol=1e-5)


@pytest.mark.parametrize("t", [np.log(1 / 0.07), np.log(100.0) + 0.5])
def test_gradients_match_finite_differences_of_numpy(t):
    """Gradients w.r.t. both towers' embeddings and the log-scale, in float64, against
    central differences of the transcription; past the clip the scale gets none."""
    rng = np.random.default_rng(2)
    images = tf.constant(rng.normal(size=(4, 5)))
    texts = tf.constant(rng.normal(size=(4, 5)))
    log_scale = tf.constant(t, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([images, texts, log_scale])
        loss = clip_loss(images, texts, log_scale)
    grads = [g.numpy() for g in tape.gradient(loss, [images, texts, log_scale])]
    arrays = [images.numpy(), texts.numpy(), np.array(t)]
    eps = 1e-6
    for which, grad in enumerate(grads):
        numeric = np.zeros_like(grad)
        for index in np.ndindex(*grad.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[which][index] += eps
            minus[which][index] -= eps
            numeric[index] = (numpy_clip(plus[0], plus[1], float(plus[2]))
                              - numpy_clip(minus[0], minus[1], float(minus[2]))) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    if t > np.log(100.0):
        assert grads[2] == 0.0


def test_float32_is_exact_at_the_largest_scale():
    """Log-sum-exp: logits reach 100 (exp(100) overflows float32)."""
    rng = np.random.default_rng(3)
    images, texts = rng.normal(size=(16, 8)), rng.normal(size=(16, 8))
    got = float(clip_loss(images.astype("float32"), texts.astype("float32"), np.log(100.0)))
    np.testing.assert_allclose(got, numpy_clip(images, texts, np.log(100.0)), rtol=1e-5)


def test_matching_pairs_score_lower_than_shuffled_ones():
    z = np.random.default_rng(4).normal(size=(8, 16)).astype("float32")
    right = float(clip_loss(z, z, np.log(20.0)))
    assert right < np.log(8) - 1.0
    assert float(clip_loss(z, z[::-1], np.log(20.0))) > right + 1.0
