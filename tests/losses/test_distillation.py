"""feature_distillation against a NumPy transcription (cosine: 1 - cos(p, t/|t|); smooth L1:
PyTorch's smooth_l1_loss(p, t/|t|, beta), mean reduction), row by row; the teacher gets no
gradient; bad arguments are refused."""
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import feature_distillation


def numpy_feature_distillation(p, t, distance, beta=1.0):
    rows = []
    for pi, ti in zip(p.astype(np.float64), t.astype(np.float64)):
        ti = ti / np.linalg.norm(ti)
        if distance == "cosine":
            rows.append(1.0 - pi @ ti / np.linalg.norm(pi))
        else:
            d = np.abs(pi - ti)
            rows.append(np.mean([0.5 * x * x / beta if x < beta else x - 0.5 * beta for x in d]))
    return float(np.mean(rows))


@pytest.mark.parametrize("distance,beta", [("cosine", 1.0), ("smooth_l1", 1.0),
                                           ("smooth_l1", 0.05)])
@pytest.mark.parametrize("shape", [(1, 3), (5, 8), (16, 32)])
def test_feature_distillation_equals_numpy(distance, beta, shape):
    rng = np.random.default_rng(sum(shape))
    p = (rng.normal(size=shape) * 0.3).astype(np.float32)
    t = (rng.normal(size=shape) * 4 + 1).astype(np.float32)
    np.testing.assert_allclose(float(feature_distillation(p, t, distance, beta)),
                               numpy_feature_distillation(p, t, distance, beta),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "smooth_l1"])
def test_the_teacher_gets_no_gradient_and_the_student_does(distance):
    p, t = tf.constant(np.eye(3, 4), tf.float32), tf.constant(np.ones((3, 4)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([p, t])
        loss = feature_distillation(p, t, distance)
    grad_p, grad_t = tape.gradient(loss, [p, t])
    assert grad_t is None and float(tf.reduce_max(tf.abs(grad_p))) > 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="distance"):
        feature_distillation(np.ones((2, 2)), np.ones((2, 2)), "l2")
    with pytest.raises(ValueError, match="beta"):
        feature_distillation(np.ones((2, 2)), np.ones((2, 2)), "smooth_l1", beta=0.0)
