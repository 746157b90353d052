"""DINO's loss against a NumPy transcription of the official DINOLoss.forward."""
import numpy as np
import pytest

from keras_contrastive.losses import dino


def numpy_dino(student, teacher, center, student_temp, teacher_temp):
    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    student_out = [np.asarray(s, np.float64) / student_temp for s in student]
    teacher_out = [softmax((np.asarray(t, np.float64) - center) / teacher_temp) for t in teacher]
    total, n_terms = 0.0, 0
    for iq, q in enumerate(teacher_out):
        for v in range(len(student_out)):
            if v == iq:
                continue
            log_p = np.log(softmax(student_out[v]))
            total += np.mean(np.sum(-q * log_p, axis=-1))
            n_terms += 1
    return total / n_terms


@pytest.mark.parametrize("num_student,num_teacher", [(2, 2), (6, 2), (3, 1)])
@pytest.mark.parametrize("teacher_temp", [0.04, 0.07])
def test_dino_equals_the_official_loss(num_student, num_teacher, teacher_temp):
    rng = np.random.default_rng(num_student * 10 + num_teacher)
    student = [rng.normal(size=(5, 12)).astype(np.float32) for _ in range(num_student)]
    teacher = [rng.normal(size=(5, 12)).astype(np.float32) for _ in range(num_teacher)]
    center = rng.normal(size=12).astype(np.float32) * 0.3
    np.testing.assert_allclose(float(dino(student, teacher, center, 0.1, teacher_temp)),
                               numpy_dino(student, teacher, center, 0.1, teacher_temp),
                               rtol=1e-5)


def test_centering_changes_the_teacher_target():
    rng = np.random.default_rng(0)
    student = [rng.normal(size=(4, 6)).astype(np.float32) for _ in range(2)]
    teacher = [rng.normal(size=(4, 6)).astype(np.float32) for _ in range(2)]
    zeros, shift = np.zeros(6, np.float32), np.full(6, 3.0, np.float32)
    # a constant center cancels in the softmax; a non-constant one does not
    np.testing.assert_allclose(float(dino(student, teacher, shift)),
                               float(dino(student, teacher, zeros)), rtol=1e-6)
    assert abs(float(dino(student, teacher, np.arange(6, dtype=np.float32)))
               - float(dino(student, teacher, zeros))) > 1e-3


def test_bad_arguments_are_refused():
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="at least 1 teacher view and 2 student views"):
        dino([z], [z], np.zeros(3))
    with pytest.raises(ValueError, match="temperature"):
        dino([z, z], [z], np.zeros(3), teacher_temperature=0.0)
