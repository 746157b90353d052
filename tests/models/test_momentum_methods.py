"""MoCo v1/v2/v3, BYOL, SimSiam, NNCLR, kNN-MoCo, LeOCLR: learn on real images, equal on 1 and 2
replicas, serialize."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import backbones, models
from tests.conftest import (
    assert_round_trip, crop_views, fit_crop_views, fit_on_one_and_two_replicas, fixed_views,
    small_cnn, sync_bn_encoder)


def _factory(cls, **defaults):
    return lambda encoder, **kwargs: cls(encoder, **{**defaults, **kwargs})


METHODS = {
    # momentum 0.99 (MoCo's CIFAR setting): with 0.999 the key encoder would
    # still be 88 % its random init after the learning test's 128 steps
    "moco_v1": _factory(models.MoCo, version=1, queue_size=256, projection_dim=32, momentum=0.99),
    "moco_v2": _factory(models.MoCo, version=2, queue_size=256, hidden_dim=64, projection_dim=32,
                        momentum=0.99),
    "moco_v2_symmetric": _factory(models.MoCo, queue_size=256, hidden_dim=64, projection_dim=32,
                                  symmetric=True, momentum=0.99),
    "moco_v3": _factory(models.MoCoV3, projection_dim=32, hidden_dim=64),
    "byol": _factory(models.BYOL, projection_dim=32, hidden_dim=64),
    "simsiam": _factory(models.SimSiam, projection_dim=64, predictor_dim=16),
    # the source papers' methods
    "knn_moco": _factory(models.KNNMoCo, queue_size=256, hidden_dim=64, projection_dim=32,
                         momentum=0.99, k=5, warmup_epochs=1),
    "leoclr": _factory(models.LeOCLR, queue_size=256, hidden_dim=64, projection_dim=32,
                       momentum=0.99),
    # LeOCLR's original-image anchor in SimCLR and BYOL (replica and config tests)
    "leoclr_end_to_end": _factory(models.LeOCLREndToEnd, projection_dim=32, hidden_dim=64),
    "byol_original": _factory(models.BYOL, projection_dim=32, hidden_dim=64, anchor="original"),
    "nnclr": _factory(models.NNCLR, support_size=256, projection_dim=32, hidden_dim=64,
                      prediction_hidden_dim=64),
}


QUEUED = {"moco_v1", "moco_v2", "moco_v2_symmetric", "knn_moco", "leoclr"}


def _model(name, backbone=small_cnn, **kwargs):
    model = METHODS[name](backbone(), **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    return model


def _embedding_dim(model):
    return model.projection_dim


def _resnet_width_4():
    return backbones.resnet18((28, 28, 1), width=4)


# method -> (backbone, epochs of 16 steps).  What is tested is the method, so
# each gets the cheapest backbone on which it passes with a margin over
# several seeds: MoCo's embeddings start bunched (ReLU features, no BN in its
# head) and spread slowly: 192 small-CNN steps take MoCo v2's past the
# threshold; MoCo v1's linear head spreads slowly: on ResNet-18 by about
# 0.0015 per epoch (384 steps ended at 0.087-0.096 over seeds 0-1 and at 0.0883
# on CI, threshold 0.0884; 512 steps at 0.097-0.102 over seeds 0-2), so it had
# 640 steps of ResNet-18 (94 s in a suite run).  On reproducible views the
# small CNN gets there for about half that time: 640 steps ended at 0.0868
# (seed 0; threshold missed), 960 steps at 0.1012, 0.0989 and 0.1128 (seeds
# 0-2; loss 5.07 -> 3.72, 4.99 -> 3.70, 4.94 -> 3.49), so it gets 960
# (benchmarks/results/learning_test_moco_v1_2026-12-06.log).  NNCLR and MoCo v3
# learn too little on the small CNN; ResNet-18 width 4 (about 60 % of width 8's
# step time) is enough.  NNCLR's loss starts near
# chance (its neighbours are weak positives at first): 128 steps lowered it
# by 5.0-14 % over seeds, 192 steps by 12-15 % at width 8 and by 12.3, 14.3 and
# 13.6 % over seeds 0-2 at width 4.  MoCo v3's 128 steps at width 4 lowered its
# loss by 0.76, 0.96 and 0.91 (seeds 0-2; the test asks 0.5) to 15.87, 15.65
# and 15.73 (asked: under 16.14).  LeOCLR's summed loss stays
# near chance for longer on some seeds: 192 steps lowered it by 5.2 % on seed 0
# here and by 4.2 % on CI (14-20 % on seeds 1-3), 320 steps by 19.7-21.7 % over
# seeds 0 and 4-7.
# The figures above were measured on views that differed from run to run (parallel
# map, racing seed state): NNCLR's fall at 192 steps once came out at 4.6 % in a
# full suite run.  The views are now reproducible (``fit_crop_views``); on them
# seeds 0-2 gave falls of NNCLR 10.6/12.7/16.2 %, LeOCLR 16.0/23.0/21.9 %, MoCo v2
# 10.5/13.9/14.1 %, kNN-MoCo 12.6/15.2/15.3 %, and every case passed on seeds 0-2
# (benchmarks/results/learning_tests_reproducible_views_2026-12-06.log).
# Symmetric MoCo is left out (moco_v2's networks and loss, twice the cost);
# it is in the replica and serialization tests.
LEARNING_CASES = {
    "byol": (small_cnn, 8), "simsiam": (small_cnn, 8), "moco_v2": (small_cnn, 12),
    "knn_moco": (small_cnn, 12), "leoclr": (small_cnn, 20),
    "moco_v1": (small_cnn, 60), "moco_v3": (_resnet_width_4, 8),
    "nnclr": (_resnet_width_4, 12),
}


@pytest.mark.parametrize("name", sorted(LEARNING_CASES))
def test_loss_falls_and_embeddings_do_not_collapse(name, fashion_mnist_train):
    images, _ = fashion_mnist_train
    backbone, epochs = LEARNING_CASES[name]
    keras.utils.set_random_seed(0)
    model = _model(name, backbone)
    queued = isinstance(model, (models.MoCo, models.NNCLR))
    history = fit_crop_views(model, images[:1024], epochs,
                             original=isinstance(model, models.LeOCLR))
    loss, spread = history["loss"], history["embedding_std"]
    # methods with a queue are compared with epoch 2, once it holds real
    # embeddings instead of its random initial vectors
    reference = loss[1] if queued else loss[0]
    if isinstance(model, models.MoCoV3):
        # at T = 1 the loss sits near its chance value 4T log(B) = 16.6 and moves
        # by about 1 in 128 steps: a fall of 0.5 and a margin below chance
        assert loss[-1] < reference - 0.5, loss
        assert loss[-1] < 4 * model.temperature * np.log(64) - 0.5, loss
    else:
        assert loss[-1] < reference - 0.05 * abs(reference), loss
    if isinstance(model, models.MoCo):  # below chance: log(K + 1) per InfoNCE over K negatives
        # LeOCLR sums two InfoNCE terms; kNN-MoCo adds lambda times its NN loss (also over the queue)
        terms = (2.0 if isinstance(model, models.LeOCLR)
                 else 1.0 + model.nn_weight if isinstance(model, models.KNNMoCo) else 1.0)
        assert loss[-1] < terms * np.log(model.queue_size + 1) - 0.3, loss
    if isinstance(model, models.NNCLR):  # below chance: log(B) for the batch's B candidates
        assert loss[-1] < np.log(64), loss
    # l2-normalised d-dim embeddings spread over the sphere have std 1/sqrt(d); 0 = collapse
    assert spread[-1] > 0.5 / np.sqrt(_embedding_dim(model)), spread


@pytest.mark.parametrize("name", sorted(METHODS))
def test_two_replica_step_equals_one_replica_step(name, fashion_mnist_train, two_replicas):
    """Loss, every weight, queue and target after one step agree in float32 to 64
    roundoffs of the step's size (``replica_tolerance``; sync BN)."""
    # 12x12 centres of real images keep the step cheap
    images = fashion_mnist_train[0][:16, 8:20, 8:20]
    dataset = tf.data.Dataset.from_tensors(fixed_views(images, 0, original=True))

    def build():
        encoder = sync_bn_encoder((12, 12, 1))
        kwargs = {"nnclr": {"support_size": 64},
                  # the NN loss on from the first step
                  "knn_moco": {"queue_size": 64, "warmup_epochs": 0}}.get(
            name, {"queue_size": 64} if name in QUEUED else {})
        model = METHODS[name](encoder, synchronized_bn=True, **kwargs)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        return model

    # every variable is compared: weights, targets, queues and pointers
    single, mirrored, start = fit_on_one_and_two_replicas(build, dataset, two_replicas)
    moved = sum(not np.allclose(a, b) for a, b in zip(single.get_weights(), start))
    assert moved > len(start) // 2
    if isinstance(single, models.MoCo):
        assert int(mirrored.queue.pointer.numpy()) == int(single.queue.pointer.numpy()) > 0


@pytest.mark.parametrize("name", ["moco_v1", "moco_v2", "byol", "moco_v3", "simsiam", "nnclr",
                                  "knn_moco", "leoclr", "leoclr_end_to_end"])
def test_state_survives_save_and_load(name, tmp_path, fashion_mnist_train):
    images, _ = fashion_mnist_train
    model = _model(name)
    model.fit(crop_views(images[:256], original=name.startswith("leoclr")), epochs=1, verbose=0)
    restored = assert_round_trip(model, str(tmp_path / f"{name}.keras"), images[:4])
    queues = {"nnclr": ["support"], "knn_moco": ["queue", "feature_queue"]}.get(
        name, ["queue"] if isinstance(model, models.MoCo) else [])
    for queue in queues:  # 256 images = 4 batches of 64 = one lap of the 256-entry queue
        saved, loaded = getattr(model, queue), getattr(restored, queue)
        assert int(loaded.pointer.numpy()) == int(saved.pointer.numpy()) == 0
        np.testing.assert_array_equal(loaded.values.numpy(), saved.values.numpy())
    if name == "knn_moco":
        assert int(restored.warmup_steps.numpy()) == int(model.warmup_steps.numpy()) == 4


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("interrupted")


class _Record(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.queue = self.model.queue.values.numpy().copy()
        self.pointer = int(self.model.queue.pointer.numpy())
        self.target = [w.copy() for w in self.model.key_network.get_weights()]

    def on_train_begin(self, logs=None):
        self.on_epoch_end(-1)


def test_queue_and_target_survive_backup_and_restore(tmp_path, fashion_mnist_train):
    images, _ = fashion_mnist_train
    data = crop_views(images[:192], batch_size=64)  # 3 steps: the pointer ends mid-queue
    backup = str(tmp_path / "backup")
    model = _model("moco_v2")
    at_backup = _Record()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(data, epochs=2, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(backup), at_backup, _Interrupt()])
    assert at_backup.pointer == 192 % 256

    resumed = _model("moco_v2")
    at_resume = _Record()
    resumed.fit(data, epochs=1, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(backup), at_resume])
    # epochs=1 was done already: the restored run starts and ends at the backup
    np.testing.assert_array_equal(at_resume.queue, at_backup.queue)
    assert at_resume.pointer == at_backup.pointer
    for a, b in zip(at_resume.target, at_backup.target):
        np.testing.assert_array_equal(a, b)


def test_moco_refuses_a_queue_that_is_not_a_multiple_of_the_batch(fashion_mnist_train):
    images, _ = fashion_mnist_train
    model = models.MoCo(small_cnn(), queue_size=100)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="queue size 100 is not a multiple of the global batch 64"):
        model.fit(crop_views(images[:128]), epochs=1, verbose=0)


@pytest.mark.parametrize("name,base", [("byol", 0.996), ("moco_v3", 0.99)])
def test_momentum_follows_the_cosine_schedule_over_the_fit_run(name, base, fashion_mnist_train):
    images, _ = fashion_mnist_train
    model = _model(name)
    model.fit(crop_views(images[:128]), epochs=3, verbose=0)  # 2 steps/epoch -> 6 steps
    assert int(model.target.total_steps_variable.numpy()) == 6
    expected = 1 - (1 - base) * (np.cos(np.pi * 3 / 6) + 1) / 2
    np.testing.assert_allclose(float(model.target.momentum_at(3)), expected, atol=1e-7)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_config_round_trip(name):
    model = METHODS[name](small_cnn())
    clone = type(model).from_config(model.get_config())
    assert clone.get_config()["encoder"] == model.get_config()["encoder"]
    assert {k: v for k, v in clone.get_config().items() if k != "name"} == {
        k: v for k, v in model.get_config().items() if k != "name"}


def test_moco_v3_objective_equals_numpy(fashion_mnist_train):
    """2T (ctr(q1, k2) + ctr(q2, k1)) from the model's own heads, in NumPy."""
    images, _ = fashion_mnist_train
    model = METHODS["moco_v3"](small_cnn(), temperature=0.5)
    x = images[:12].astype("float32") / 255.0
    views_ = {"global": (x, x[:, :, ::-1, :])}
    loss, _ = model.compute_objective(views_, training=False)

    def unit(v):
        v = np.asarray(v, np.float64)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def ctr(view_q, view_k):
        q = unit(model.predictor(model.online(view_q)))
        k = unit(model.target(view_k))
        logits = q @ k.T / 0.5
        return np.mean([np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(logits)])

    a, b = views_["global"]
    np.testing.assert_allclose(float(loss), 2 * 0.5 * (ctr(a, b) + ctr(b, a)), rtol=1e-5)


def test_get_config_saves_the_resolved_arguments():
    """MoCo resolves temperature=None by version; its subclass keeps MoCo's value."""
    for cls, expected in ((models.MoCo, 0.2), (models.KNNMoCo, 0.2)):
        model = cls(small_cnn(), queue_size=64, k=5,
                    temperature=None) if cls is models.KNNMoCo else cls(
            small_cnn(), queue_size=64, temperature=None)
        assert model.temperature == model.get_config()["temperature"] == expected
    v1 = models.MoCo(small_cnn(), version=1, queue_size=64)
    assert v1.get_config()["temperature"] == 0.07
