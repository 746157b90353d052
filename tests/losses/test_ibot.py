"""iBOT's masked patch loss against a NumPy transcription of the official iBOTLoss (loss2)."""
import numpy as np
import pytest

from keras_contrastive.losses import ibot_patch_loss


def numpy_ibot(student, teacher, masks, center, student_temp, teacher_temp):
    """``iBOTLoss.forward``'s patch term: for q == v, per image the masked patches' mean
    cross-entropy, then the mean over images, then over the views."""
    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    total = 0.0
    for s, t, m in zip(student, teacher, masks):
        q = softmax((np.asarray(t, np.float64) - center) / teacher_temp)
        log_p = np.log(softmax(np.asarray(s, np.float64) / student_temp))
        ce = np.sum(-q * log_p, axis=-1)
        m = np.asarray(m, np.float64)
        total += np.mean(np.sum(ce * m, axis=-1) / np.maximum(m.sum(axis=-1), 1.0))
    return total / len(student)


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("teacher_temp", [0.04, 0.07])
def test_ibot_equals_the_official_loss(views, teacher_temp):
    rng = np.random.default_rng(views)
    student = [rng.normal(size=(3, 9, 12)).astype(np.float32) for _ in range(views)]
    teacher = [rng.normal(size=(3, 9, 12)).astype(np.float32) for _ in range(views)]
    masks = [rng.random((3, 9)) < 0.4 for _ in range(views)]
    masks[0][1] = False  # an image without masked patches counts 0
    center = rng.normal(size=12).astype(np.float32) * 0.3
    np.testing.assert_allclose(
        float(ibot_patch_loss(student, teacher, masks, center, 0.1, teacher_temp)),
        numpy_ibot(student, teacher, masks, center, 0.1, teacher_temp), rtol=1e-5)


def test_only_masked_patches_count():
    rng = np.random.default_rng(5)
    s, t = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 6, 4))
    mask = np.zeros((2, 6), bool)
    mask[:, :3] = True
    changed = s.copy()
    changed[:, 3:, 0] += 5.0  # unmasked patches: no effect
    base = float(ibot_patch_loss([s], [t], [mask], np.zeros(4)))
    assert float(ibot_patch_loss([changed], [t], [mask], np.zeros(4))) == pytest.approx(base)
    changed[:, 0, 0] += 5.0
    assert abs(float(ibot_patch_loss([changed], [t], [mask], np.zeros(4))) - base) > 1e-3


def test_bad_arguments_are_refused():
    z = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="one teacher output and one mask per student view"):
        ibot_patch_loss([z, z], [z], [np.ones((2, 3), bool)], np.zeros(4))
