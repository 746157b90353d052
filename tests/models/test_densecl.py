"""DenseCL: its objective is MoCo-v2's InfoNCE plus the dense loss of its networks' outputs,
it learns on real images (the dense loss below the random init's), the global batch on
2 replicas, the queues after a step, a save/load round trip, and a clear refusal."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import losses, models
from tests.conftest import (
    assert_round_trip, fit_crop_views, fit_on_one_and_two_replicas, fixed_views, small_cnn,
    sync_bn_encoder)


def _model(encoder=None, **kwargs):
    model = models.DenseCL(small_cnn() if encoder is None else encoder,
                           **{"queue_size": 256, "hidden_dim": 64, "projection_dim": 32,
                              "momentum": 0.99, **kwargs})
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    return model


def _dense_loss(model, x, others):
    """The dense loss on fixed views ``x`` (batch statistics, as in training) whose
    negatives are the mean dense keys of the images ``others`` by the same key network
    (not the queue: a random-init model's queue holds random vectors, easier negatives
    than real keys)."""
    query, key = (tf.constant(v) for v in x["global"])
    _, query_dense, query_locations = model.query_network(query, training=True)
    _, key_dense, key_locations = model.key_network(key, training=True)
    negatives = tf.reduce_mean(model.key_network(tf.constant(others), training=True)[1], axis=1)
    return float(losses.dense_contrastive(query_dense, key_dense, query_locations,
                                          key_locations, negatives, model.temperature))


@pytest.mark.parametrize("seed", [0])  # 1 and 2 measured (docstring): one keeps it cheap
def test_loss_falls_and_embeddings_do_not_collapse(seed, fashion_mnist_train,
                                                   fashion_mnist_test):
    """1024 images, 128 steps (about 10 s alone).  The baseline is the same model's
    dense loss at its random init on 64 held-out test images (negatives: 64 other test
    images' mean dense keys), measured here before training.  Measured over seeds 0-2:
    dense loss 3.59 -> 1.18 / 3.10 -> 1.68 / 3.54 -> 1.08; training loss from epoch 2 to
    8 4.19 -> 3.73 / 4.10 -> 3.82 / 4.11 -> 3.70 (chance log(257) = 5.55; the 5 % fall
    asked is 0.20); spread 0.125 / 0.133 / 0.131 against 0.5 / sqrt(32) = 0.088.  With
    64 steps the training loss of seed 1 fell by under 5 %.  In inference mode (BN
    moving statistics 28 % their initial values after 128 steps) seed 1's dense loss
    did not fall."""
    keras.utils.set_random_seed(seed)
    model = _model()
    held_out = fixed_views(fashion_mnist_test[0][:64], seed)
    others = fashion_mnist_test[0][64:128].astype("float32") / 255.0
    baseline = _dense_loss(model, held_out, others)
    history = fit_crop_views(model, fashion_mnist_train[0][:1024], 8, seed=seed)
    loss, spread = history["loss"], history["embedding_std"]
    trained = _dense_loss(model, held_out, others)
    print(f"seed {seed}: loss {np.round(loss, 3).tolist()}, spread "
          f"{np.round(spread, 4).tolist()}, dense loss {baseline:.3f} -> {trained:.3f}")
    # epoch 2 is the reference: from then on the queues hold keys, not random vectors
    assert loss[-1] < loss[1] - 0.05 * loss[1], loss
    assert loss[-1] < np.log(model.queue_size + 1) - 0.3, loss  # both terms' chance value
    assert trained < baseline - 0.3, (baseline, trained)
    assert spread[-1] > 0.5 / np.sqrt(model.projection_dim), spread


def test_objective_is_moco_v2_plus_the_dense_loss_of_its_networks(fashion_mnist_train):
    """(1 - lambda) InfoNCE(q, k, queue) + lambda dense_contrastive(...) of the query and
    key networks' outputs; the key network's locations are the momentum backbone's."""
    x = fixed_views(fashion_mnist_train[0][:8])
    model = _model(queue_size=64, dense_weight=0.3, temperature=0.3)
    query, key = (tf.constant(v) for v in x["global"])
    value, extras = model.compute_objective({"global": (query, key)}, training=False)
    q, q_dense, q_locations = (t.numpy() for t in model.query_network(query))
    k, k_dense, k_locations = (t.numpy() for t in model.key_network(key))
    assert q_locations.shape == (8, 49, 64) and q_dense.shape == (8, 49, 32)
    expected = (0.7 * float(losses.info_nce(q, k, model.queue.values, 0.3))
                + 0.3 * float(losses.dense_contrastive(q_dense, k_dense, q_locations,
                                                       k_locations, model.dense_queue.values,
                                                       0.3)))
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)
    np.testing.assert_allclose(extras["dense_keys"], k_dense.mean(axis=1), rtol=1e-5,
                               atol=1e-6)
    # the locations are the backbone's feature map before its pooling
    pooled = model.encoder(query).numpy()
    np.testing.assert_allclose(q_locations.mean(axis=1), pooled, rtol=1e-5, atol=1e-6)


def test_two_replica_step_equals_one_replica_step(fashion_mnist_train, two_replicas):
    """Loss, every weight, the key network and both queues after one step agree (float32,
    sync BN, to conftest.replica_tolerance)."""
    images = fashion_mnist_train[0][:16, 8:20, 8:20]
    dataset = tf.data.Dataset.from_tensors(fixed_views(images))

    def build():
        model = models.DenseCL(sync_bn_encoder((12, 12, 1)), queue_size=64, hidden_dim=32,
                               projection_dim=16, momentum=0.9)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        return model

    single, mirrored, start = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    moved = {id(w) for a, b, w in zip(start, single.get_weights(), single.weights)
             if not np.allclose(a, b)}
    for part in (single.queue, single.dense_queue, single.key_network):  # not vacuous
        assert moved & {id(w) for w in part.weights}, part.name
    for queue in ("queue", "dense_queue"):  # the global batch of 16 entered each queue
        assert (int(getattr(mirrored, queue).pointer.numpy())
                == int(getattr(single, queue).pointer.numpy()) == 16)


def test_state_survives_save_and_load(tmp_path, fashion_mnist_train):
    model = _model(queue_size=64, dense_weight=0.25)
    images = fashion_mnist_train[0][:32]
    model.fit(tf.data.Dataset.from_tensors(fixed_views(images)), epochs=1, verbose=0)
    restored = assert_round_trip(model, str(tmp_path / "densecl.keras"), images[:4])
    assert (restored.dense_weight, restored.queue_size) == (0.25, 64)
    for queue in ("queue", "dense_queue"):
        np.testing.assert_array_equal(getattr(restored, queue).values.numpy(),
                                      getattr(model, queue).values.numpy())


def test_an_encoder_without_a_feature_map_and_bad_arguments_are_refused():
    flat = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(8)])
    with pytest.raises(ValueError, match="no GlobalAveragePooling2D"):
        models.DenseCL(flat, queue_size=64)
    with pytest.raises(ValueError, match=r"`dense_weight` must be in \[0, 1\]"):
        models.DenseCL(small_cnn(), queue_size=64, dense_weight=1.5)
