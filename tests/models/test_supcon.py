"""SupCon: labelled views from make_views, learning on real images, the global batch on
2 replicas, and a clear refusal of unlabelled views."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import losses, models, views
from tests.conftest import (
    assert_round_trip, crop_views, fit_on_one_and_two_replicas, fixed_views, small_cnn,
    sync_bn_encoder)


def test_make_views_keeps_each_images_label(fashion_mnist_train):
    images, labels = fashion_mnist_train
    # the views of image j come with label j: match views to images by their
    # uncropped, unjittered copy
    identity = views.make_views(tf.data.Dataset.from_tensor_slices((images[:96], labels[:96])),
                                lambda x: x, batch_size=32, seed=1, labels=True)
    seen = 0
    for batch in identity:
        assert batch["labels"].dtype == tf.int64
        for view, label in zip(batch["global"][0].numpy(), batch["labels"].numpy()):
            index = int(np.argmin(np.abs(images[:96] / 255.0 - view).sum(axis=(1, 2, 3))))
            assert label == labels[index]
            seen += 1
    assert seen == 96


def test_make_views_refuses_labels_it_cannot_find(fashion_mnist_train):
    images, _ = fashion_mnist_train
    with pytest.raises(ValueError, match=r"labels=True\) needs labelled elements"):
        views.make_views(tf.data.Dataset.from_tensor_slices(images[:64]), lambda x: x,
                         batch_size=32, labels=True)


def test_loss_falls_and_classes_separate(fashion_mnist_train, fashion_mnist_test):
    images, labels = fashion_mnist_train
    keras.utils.set_random_seed(0)
    model = models.SupCon(small_cnn(), projection_dim=16, temperature=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    test_images = fashion_mnist_test[0][:500].astype("float32") / 255.0
    before = _nearest_neighbour_accuracy(model, test_images, fashion_mnist_test[1][:500])
    history = model.fit(crop_views(images[:1024], epochs=8, labels=labels[:1024]), epochs=8,
                        steps_per_epoch=16, verbose=0).history
    loss = history["loss"]
    assert loss[-1] < loss[0] - 0.05 * abs(loss[0]), loss
    # No spread threshold here: SupCon's optimum maps each class to one point,
    # and 10 points on the sphere give a mean per-dimension std of at most
    # 2.85 / d (a 9-d simplex), so the spread stays low by design: 0.11-0.13
    # at d = 16 after 384 steps over seeds 0-1, against 0.5 / sqrt(16) =
    # 0.125; at d = 8 and 4 it fell further short of its threshold.  Collapse
    # is excluded by the class structure instead: the labels make held-out
    # images' nearest neighbours share their class more often than at init
    # (+0.12, +0.22, +0.08 over seeds 0-2)
    after = _nearest_neighbour_accuracy(model, test_images, fashion_mnist_test[1][:500])
    assert after > before + 0.05, (before, after)


def _nearest_neighbour_accuracy(model, images, labels):
    """Leave-one-out 1-NN accuracy of the l2-normalised projections.  Batch norm
    uses the 500 images' statistics: after 128 steps its moving averages
    (momentum 0.99) still hold 28 % of their initial values, which blurred
    the inference-mode projections (the rise measured 0.04-0.18 from run to
    run, with the same seed, on a loaded machine)."""
    z = model.projector(model.encoder(images, training=True), training=True).numpy()
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    similarity = z @ z.T - 2 * np.eye(len(z))
    return float(np.mean(labels[np.argmax(similarity, axis=1)] == labels))


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas):
    images, labels = fashion_mnist_train[0][:16, 8:20, 8:20], fashion_mnist_train[1][:16]
    dataset = tf.data.Dataset.from_tensors(
        {**fixed_views(images, 0), "labels": labels.astype("int64")})

    def build():
        model = models.SupCon(sync_bn_encoder((12, 12, 1)), projection_dim=16,
                              synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        return model

    fit_on_one_and_two_replicas(build, dataset, two_replicas)


def test_model_loss_is_supcon_of_its_projections(fashion_mnist_train):
    images, labels = fashion_mnist_train[0][:32], fashion_mnist_train[1][:32]
    x = fixed_views(images)
    model = models.SupCon(small_cnn(), projection_dim=16, temperature=0.2)
    value, _ = model.compute_objective(
        {"global": tuple(map(tf.constant, x["global"])), "labels": tf.constant(labels)},
        training=False)
    projections = [model.projector(model.encoder(v)) for v in x["global"]]
    np.testing.assert_allclose(float(value), float(losses.supcon(projections, labels, 0.2)),
                               rtol=1e-6)


def test_unlabelled_views_are_refused_before_training(fashion_mnist_train):
    images, _ = fashion_mnist_train
    model = models.SupCon(small_cnn(), projection_dim=16)
    model.compile(optimizer="sgd")
    unlabelled = views.make_views(tf.data.Dataset.from_tensor_slices(images[:64]), lambda x: x,
                                  batch_size=32)
    with pytest.raises(ValueError, match=r"views\['labels'\] is missing.*labels=True"):
        model.fit(unlabelled, epochs=1, verbose=0)


def test_round_trip(tmp_path, fashion_mnist_train):
    model = models.SupCon(small_cnn(), projection_dim=16, temperature=0.2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    images, labels = fashion_mnist_train[0][:32], fashion_mnist_train[1][:32]
    views = {**fixed_views(images), "labels": labels.astype("int64")}
    model.fit(tf.data.Dataset.from_tensors(views), epochs=1, verbose=0)
    restored = assert_round_trip(model, str(tmp_path / "supcon.keras"), images[:4])
    assert restored.temperature == 0.2
