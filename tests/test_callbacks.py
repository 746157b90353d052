"""Tests of keras_contrastive/callbacks.py."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import callbacks as callbacks_module
from keras_contrastive.callbacks import KNNMonitor
from keras_contrastive import models, views
from tests.conftest import small_cnn, tiny_encoder


class ModelWithEncoder(keras.Model):
    """A stand-in for ContrastiveModel: owns `.encoder` plus a head."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = tiny_encoder()
        self.head = keras.layers.Dense(10)

    def call(self, images, training=False):
        return self.head(self.encoder(images, training=training))


@pytest.fixture
def small_fashion(fashion_mnist_train, fashion_mnist_test):
    (x_train, y_train), (x_test, y_test) = fashion_mnist_train, fashion_mnist_test
    return (x_train[:512], y_train[:512]), (x_test[:256], y_test[:256])


def compiled_model():
    model = ModelWithEncoder()
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def test_fit_history_has_val_knn_acc_and_checkpoint_can_monitor_it(small_fashion, tmp_path):
    (x_train, y_train), test = small_fashion
    checkpoint_path = str(tmp_path / "best.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(
        checkpoint_path, monitor="val_knn_acc", mode="max", save_best_only=True, save_weights_only=True
    )
    model = compiled_model()
    history = model.fit(
        x_train / 255.0,
        y_train,
        batch_size=128,
        epochs=2,
        verbose=0,
        callbacks=[KNNMonitor((x_train, y_train), test, k=20), checkpoint],
    )
    accuracies = history.history["val_knn_acc"]
    assert len(accuracies) == 2
    assert all(isinstance(a, float) and 0.1 < a <= 1.0 for a in accuracies)
    assert os.path.exists(checkpoint_path)


def test_monitor_evaluates_model_encoder_every_nth_epoch(small_fashion, monkeypatch):
    (x_train, y_train), test = small_fashion
    seen = []

    def fake_knn_accuracy(encoder, train, test, **kwargs):
        seen.append((encoder, kwargs))
        return 0.5

    monkeypatch.setattr(callbacks_module, "knn_accuracy", fake_knn_accuracy)
    model = compiled_model()
    monitor = KNNMonitor((x_train, y_train), test, k=7, temperature=0.2, every=2, batch_size=64)
    history = model.fit(x_train[:64] / 255.0, y_train[:64], epochs=5, verbose=0, callbacks=[monitor])
    assert len(seen) == 2  # epochs 2 and 4
    assert all(encoder is model.encoder for encoder, _ in seen)
    assert seen[0][1] == {"k": 7, "temperature": 0.2, "batch_size": 64}
    assert history.history["val_knn_acc"] == [0.5, 0.5]


def test_model_without_encoder_attribute_is_used_itself(small_fashion, monkeypatch):
    (x_train, y_train), test = small_fashion
    seen = []
    monkeypatch.setattr(
        callbacks_module, "knn_accuracy", lambda encoder, *args, **kwargs: seen.append(encoder) or 0.0
    )
    model = keras.Sequential([tiny_encoder(), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train[:32] / 255.0, y_train[:32], epochs=1, verbose=0, callbacks=[KNNMonitor((x_train, y_train), test)])
    assert seen == [model]


def test_get_config_and_argument_validation(small_fashion):
    train, test = small_fashion
    monitor = KNNMonitor(train, test, k=5, temperature=0.05, every=3, batch_size=32)
    assert monitor.get_config() == {"k": 5, "temperature": 0.05, "every": 3, "batch_size": 32}
    assert keras.saving.get_registered_object("keras_contrastive>KNNMonitor") is KNNMonitor
    with pytest.raises(ValueError, match="k=0"):
        KNNMonitor(train, test, k=0)
    with pytest.raises(ValueError, match="temperature=-1"):
        KNNMonitor(train, test, temperature=-1)
    with pytest.raises(ValueError, match="every=0"):
        KNNMonitor(train, test, every=0)


class _BlowUp(keras.callbacks.Callback):
    """Sets the learning rate to 1e30 after 2 steps: the loss becomes NaN/Inf."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            self.model.optimizer.learning_rate.assign(1e30)


def test_nan_guard_stops_at_the_first_non_finite_loss(fashion_mnist_train):
    from keras_contrastive.callbacks import NaNGuard, NonFiniteLossError
    from keras_contrastive.models import SimCLR
    from tests.conftest import fixed_views

    model = SimCLR(tiny_encoder(), projection_dim=8)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    views = tf.data.Dataset.from_tensor_slices(fixed_views(fashion_mnist_train[0][:256])).batch(16)
    guard = NaNGuard()
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step \d+: \{.*'loss': (nan|inf)"):
        model.fit(views, epochs=3, verbose=0, callbacks=[_BlowUp(), guard])
    assert "last finite step's logs: {'embedding_std'" in guard.message
    assert int(model.optimizer.iterations.numpy()) < 16  # stopped in the first epoch


def test_collapse_monitor_flags_a_constant_encoder_and_not_a_healthy_one(fashion_mnist_train):
    from keras_contrastive.callbacks import CollapseError, CollapseMonitor
    from keras_contrastive.models import SimCLR
    from tests.conftest import fixed_views

    views = tf.data.Dataset.from_tensor_slices(fixed_views(fashion_mnist_train[0][:256])).batch(32)
    constant = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(8, kernel_initializer="zeros",
                                                    bias_initializer="ones", trainable=False)])
    model = SimCLR(constant, projection_dim=8)
    model.compile(optimizer="sgd")
    monitor = CollapseMonitor(threshold=0.01, patience=3, action="stop")
    with pytest.raises(CollapseError, match="embeddings collapsed"):
        model.fit(views, epochs=2, verbose=0, callbacks=[monitor])
    assert monitor.collapsed_at[:2] == (1, 3)

    healthy = SimCLR(tiny_encoder(), projection_dim=8)
    healthy.compile(optimizer="sgd")
    watcher = CollapseMonitor(threshold=0.01, patience=3, action="warn")
    healthy.fit(views, epochs=1, verbose=0, callbacks=[watcher])
    assert watcher.collapsed_at is None
    with pytest.warns(RuntimeWarning, match="embeddings collapsed"):
        model.fit(views, epochs=1, verbose=0, callbacks=[CollapseMonitor(0.01, 3, "warn")])


class _StopAfterBatch(keras.callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_of_a_plain_keras_model_warns_that_the_epoch_restarts(tmp_path):
    from keras_contrastive.callbacks import BackupAndRestore

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")

    def model():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        m.compile("sgd", "mse")
        return m

    with pytest.raises(RuntimeError, match="interrupted"):
        model().fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0, callbacks=[
            BackupAndRestore(str(tmp_path), save_freq=2), _StopAfterBatch(2)])
    with pytest.warns(UserWarning, match="Sequential is not a ContrastiveModel; epoch 1 restarts "
                                         "from its first batch"):
        model().fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0,
                    callbacks=[BackupAndRestore(str(tmp_path), save_freq=2)])


def test_tensorboard_writes_epoch_scalars_when_steps_are_not_a_multiple_of_update_freq(
        tmp_path, fashion_mnist_train):
    """Keras' own callback loses them (tensorflow/tensorflow#49109); ours writes them."""
    from keras_contrastive.callbacks import TensorBoard
    from tests.test_cli import summary_tags

    images, labels = fashion_mnist_train[0][:96], fashion_mnist_train[1][:96]
    found = {}
    for name, callback in (("ours", TensorBoard), ("keras", keras.callbacks.TensorBoard)):
        keras.utils.set_random_seed(0)
        model = models.SimCLR(small_cnn())
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        data = views.make_views(tf.data.Dataset.from_tensor_slices(images), lambda x: x,
                                batch_size=32, seed=0)  # 3 steps per epoch
        model.fit(data, epochs=2, verbose=0, callbacks=[
            KNNMonitor((images, labels), (images, labels), k=5),
            callback(str(tmp_path / name), update_freq=4)])
        found[name] = summary_tags(tmp_path / name)
    assert {"epoch_loss", "epoch_embedding_std", "batch_loss"} <= found["ours"]["train"]
    assert "epoch_knn_acc" in found["ours"]["validation"]
    assert "epoch_loss" not in found["keras"].get("train", set())  # the bug this works around


class _Capture(keras.callbacks.Callback):
    """Records the variables as ``on_train_begin`` leaves them (after a restore) and stops."""

    def on_train_begin(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.finite = all(np.all(np.isfinite(v.numpy())) for v in self.model.trainable_variables)
        raise RuntimeError("captured")


def test_a_run_stopped_by_nan_guard_resumes_from_its_last_finite_backup(fashion_mnist_train,
                                                                        tmp_path):
    """The step whose loss is NaN is not backed up (before the guard stops the run), so the
    resumed run starts from the finite state of the step before."""
    from keras_contrastive.callbacks import BackupAndRestore, NaNGuard, NonFiniteLossError
    from tests.conftest import fixed_views

    views = tf.data.Dataset.from_tensor_slices(fixed_views(fashion_mnist_train[0][:256])).batch(16)

    def model():
        m = models.SimCLR(tiny_encoder(), projection_dim=8)
        m.compile(optimizer=keras.optimizers.SGD(0.1))
        return m

    guard = NaNGuard()
    with pytest.warns(RuntimeWarning, match=r"no backup at step (\d+): the logged '\w+' \((nan|inf)"):
        with pytest.raises(NonFiniteLossError):
            model().fit(views, epochs=3, verbose=0, callbacks=[
                BackupAndRestore(tmp_path, save_freq=1), _BlowUp(), guard])
    bad_step = int(guard.message.split("step ")[1].split(":")[0])
    capture = _Capture()
    with pytest.raises(RuntimeError, match="captured"):
        model().fit(views, epochs=3, verbose=0,
                    callbacks=[BackupAndRestore(tmp_path, save_freq=1), capture])
    assert capture.finite and capture.iterations == bad_step - 1 >= 2
