"""kNN-MoCo and LeOCLR, the methods of the source papers, against their definitions."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import models, views
from keras_contrastive.losses.info_nce import nearest_neighbour_nce
from tests.conftest import fixed_views, small_cnn
from tests.losses.test_nt_xent import numpy_nt_xent


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_nn_loss(query, features, feature_queue, key_queue, k, temperature):
    """Brute force: rank the feature queue per query, average -log softmax at the k best."""
    q, f, fq, kq = _unit(query), _unit(features), _unit(feature_queue), _unit(key_queue)
    losses = []
    for i in range(len(q)):
        neighbours = np.argsort(-(fq @ f[i]))[:k]
        logits = kq @ q[i] / temperature
        log_softmax = logits - np.log(np.exp(logits).sum())
        losses.append(-np.mean(log_softmax[neighbours]))
    return np.mean(losses)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_nearest_neighbour_loss_equals_brute_force(k):
    rng = np.random.default_rng(k)
    q, f = rng.normal(size=(6, 8)), rng.normal(size=(6, 16))
    fq, kq = rng.normal(size=(64, 16)), rng.normal(size=(64, 8))
    got = float(nearest_neighbour_nce(q.astype("float32"), f.astype("float32"),
                                      fq.astype("float32"), kq.astype("float32"), k, 0.2))
    np.testing.assert_allclose(got, numpy_nn_loss(q, f, fq, kq, k, 0.2), rtol=1e-5)


def test_neighbours_chosen_are_the_brute_force_top_k():
    """On a hand-built queue the mined neighbours are exactly NumPy's top-k."""
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 4)).astype("float32")
    fq = rng.normal(size=(10, 4)).astype("float32")
    # key queue: one-hot rows, so the loss reveals which entries were averaged
    kq = np.eye(10, dtype="float32")
    q = np.zeros((3, 10), "float32")  # uniform logits: -log softmax = log(10) everywhere
    base = float(nearest_neighbour_nce(q, f, fq, kq, k=3, temperature=1.0))
    np.testing.assert_allclose(base, np.log(10), rtol=1e-6)
    for i in range(3):
        expected = set(np.argsort(-(_unit(fq) @ _unit(f)[i]))[:3])
        # raise query i's logit on one queue entry at a time: the loss drops only for neighbours
        chosen = set()
        for j in range(10):
            qi = q.copy()
            qi[i, j] = 5.0
            if float(nearest_neighbour_nce(qi, f, fq, kq, k=3, temperature=1.0)) < base - 1e-3:
                chosen.add(j)
        assert chosen == expected


def _encoder():
    # what these tests check is the methods' losses and queues, not the backbone: the
    # small CNN (conv-BN-ReLU + pooling, like ResNet's features) builds and traces
    # several times faster than a ResNet-18
    return small_cnn()


def test_knn_moco_with_zero_weight_is_moco_v2(fashion_mnist_train):
    batch = tf.data.Dataset.from_tensors(fixed_views(fashion_mnist_train[0][:32]))
    kwargs = dict(queue_size=64, projection_dim=16, hidden_dim=32, momentum=0.99, temperature=0.2)
    moco = models.MoCo(_encoder(), version=2, **kwargs)
    knn = models.KNNMoCo(_encoder(), nn_weight=0.0, warmup_epochs=0, k=5, **kwargs)
    for part in ("encoder", "projector", "key_network", "queue"):
        getattr(knn, part).set_weights(getattr(moco, part).get_weights())
    for model in (moco, knn):
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    for _ in range(2):  # second step: a queue holding real keys
        loss_moco = moco.fit(batch, epochs=1, verbose=0).history["loss"]
        loss_knn = knn.fit(batch, epochs=1, verbose=0).history["loss"]
        np.testing.assert_allclose(loss_knn, loss_moco, rtol=1e-6)


def test_knn_moco_queues_stay_aligned_and_the_nn_loss_switches_on_after_warmup(fashion_mnist_train):
    data = tf.data.Dataset.from_tensors(fixed_views(fashion_mnist_train[0][:32])).repeat(2)
    model = models.KNNMoCo(_encoder(), queue_size=64, projection_dim=16, hidden_dim=32, k=5,
                           warmup_epochs=1)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    initial = model.feature_queue.values.numpy().copy()
    model.fit(data, epochs=2, verbose=0)
    assert int(model.warmup_steps.numpy()) == 2  # 1 epoch of 2 steps
    # 4 steps x 32 keys = two passes over both 64-slot queues: pointers agree
    assert int(model.queue.pointer.numpy()) == int(model.feature_queue.pointer.numpy()) == 0
    # every slot of the feature queue now holds a key's backbone feature
    assert model.feature_queue.values.shape == (64, model.feature_dim)
    assert np.all(np.abs(model.feature_queue.values.numpy() - initial).max(axis=1) > 1e-3)
    # backbone features after ReLU + pooling are non-negative; the random start was not
    assert model.feature_queue.values.numpy().min() >= 0 > initial.min()


def test_leoclr_loss_equals_numpy_with_fixed_embeddings(fashion_mnist_train):
    """With the networks' outputs fixed, the objective is l(u, v1) + l(u, v2) over the queue."""
    model = models.LeOCLR(_encoder(), queue_size=64, projection_dim=16, hidden_dim=32)
    v = fixed_views(fashion_mnist_train[0][:8], original=True)
    loss, _ = model.compute_objective({k: tf.constant(np.asarray(x)) if k == "original" else
                                       tuple(tf.constant(t) for t in x) for k, x in v.items()},
                                      training=False)
    u = model.encode_query(v["original"], False)[0].numpy()
    k1 = model.encode_key(v["global"][0], False)[0].numpy()
    k2 = model.encode_key(v["global"][1], False)[0].numpy()
    queue = model.queue.values.numpy()

    def l(q, k):
        q, k, neg = _unit(q), _unit(k), _unit(queue)
        pos = np.exp(np.sum(q * k, 1) / 0.2)
        return np.mean(-np.log(pos / (pos + np.exp(q @ neg.T / 0.2).sum(1))))

    np.testing.assert_allclose(float(loss), l(u, k1) + l(u, k2), rtol=1e-5)


def test_leoclr_views_have_the_whole_image_as_original(fashion_mnist_train):
    images = fashion_mnist_train[0][:64]
    crops = views.simclr_augment(28, channels=1, strength=0.0, crop_scale=(0.2, 0.3), flip=False,
                                 seed=0)
    whole = views.simclr_augment(28, channels=1, strength=0.0, crop_scale=None, flip=False)
    batch = next(iter(views.make_views(tf.data.Dataset.from_tensor_slices(images), crops,
                                       batch_size=64, shuffle_buffer=0,
                                       original_augment=whole)))
    np.testing.assert_allclose(batch["original"], images / 255.0, atol=1e-6)
    assert not np.allclose(batch["global"][0], images / 255.0, atol=1e-2)


@pytest.mark.parametrize("build", [
    lambda: models.LeOCLR(_encoder(), queue_size=64, projection_dim=16, hidden_dim=32),
    lambda: models.SimCLR(_encoder(), projection_dim=16, anchor="original"),
    lambda: models.BYOL(_encoder(), projection_dim=16, hidden_dim=32, anchor="original"),
], ids=["LeOCLR", "SimCLR", "BYOL"])
def test_original_anchor_refuses_views_without_an_original(build, fashion_mnist_train):
    model = build()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"needs views\['original'\]"):
        model.fit(tf.data.Dataset.from_tensors(fixed_views(fashion_mnist_train[0][:32])),
                  epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0  # refused before the first step


def test_original_anchor_for_simclr_equals_the_formula(fashion_mnist_train):
    """SimCLR(anchor="original") = LeOCLREndToEnd: nt_xent(u, v1) + nt_xent(u, v2)."""
    v = fixed_views(fashion_mnist_train[0][:8], original=True)
    for model in (models.SimCLR(_encoder(), projection_dim=16, temperature=0.2, anchor="original"),
                  models.LeOCLREndToEnd(_encoder(), projection_dim=16, temperature=0.2)):
        loss, _ = model.compute_objective(v, training=False)
        u, v1, v2 = (model.projector(model.encoder(x)).numpy()
                     for x in (v["original"], *v["global"]))
        np.testing.assert_allclose(float(loss), numpy_nt_xent(u, v1, 0.2) + numpy_nt_xent(u, v2, 0.2),
                                   rtol=1e-5)


def test_original_anchor_for_byol_equals_the_formula(fashion_mnist_train):
    """BYOL(anchor="original"): l(p_u, z'_1) + l(p_u, z'_2), l(p, z) = 2 - 2 cos(p, z)."""
    v = fixed_views(fashion_mnist_train[0][:8], original=True)
    model = models.BYOL(_encoder(), projection_dim=16, hidden_dim=32, anchor="original")
    model.target.target.set_weights([w + 0.01 for w in model.target.target.get_weights()])
    loss, _ = model.compute_objective(v, training=False)
    p_u = _unit(model.predictor(model.online(v["original"])))
    t1, t2 = (_unit(model.target(x)) for x in v["global"])
    expected = np.mean(2 - 2 * np.sum(p_u * t1, 1)) + np.mean(2 - 2 * np.sum(p_u * t2, 1))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_leoclr_end_to_end_learns_on_fashion_mnist(fashion_mnist_train):
    """(LeOCLR with a momentum encoder learns in test_momentum_methods.)"""
    images = fashion_mnist_train[0][:1024]
    crops = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0), seed=0)
    whole = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=None, seed=1)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(images), crops, batch_size=64,
                            original_augment=whole, seed=0)
    keras.utils.set_random_seed(0)
    model = models.LeOCLREndToEnd(small_cnn(), projection_dim=32, temperature=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    # the projections start bunched (std 0.05) and spread as it learns: after
    # 128 steps 0.084-0.103 over seeds and machines (threshold 0.088), after
    # 192 steps 0.120-0.137 (seeds 0-2)
    history = model.fit(data, epochs=12, verbose=0).history
    loss, spread = history["loss"], history["embedding_std"]
    assert loss[-1] < loss[1] - 0.05 * abs(loss[1]), loss
    assert spread[-1] > 0.5 / np.sqrt(32), spread
