"""Training-time callbacks: representation quality (kNN), NaN guard, collapse
monitor, and a backup that resumes mid-epoch exactly."""
import json
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive._checks import is_positive_int
from keras_contrastive.evaluation.knn import knn_accuracy

__all__ = ["BackupAndRestore", "CollapseError", "CollapseMonitor", "KNNMonitor", "NaNGuard", "NonFiniteLossError"]


@keras.saving.register_keras_serializable(package="keras_contrastive")
class KNNMonitor(keras.callbacks.Callback):
    """Log the weighted-kNN accuracy of the encoder as ``val_knn_acc``.

    At the end of every ``every``-th epoch the encoder being trained
    (``model.feature_extractor()`` for a ``ContrastiveModel``: its
    encoder, CPC's mean-pooled patch grid, Colorization's encoder of the
    lightness; for any other Keras model its ``encoder`` attribute, or the
    model itself) embeds
    ``train`` (the kNN memory) and ``test`` (the queries), and
    ``knn_accuracy`` is written into the epoch logs as ``val_knn_acc``.  It
    therefore appears in the progress bar and ``History`` and can drive
    ``ModelCheckpoint(monitor="val_knn_acc", mode="max")`` or
    ``EarlyStopping`` -- list ``KNNMonitor`` *before* those callbacks, since
    Keras calls callbacks in order.  On skipped epochs the key is absent.

    Args:
        train: labelled memory set: a ``tf.data.Dataset`` of
            ``(image, label)`` (batched or not, uint8 or float) or a tuple
            ``(images, labels)`` of NumPy arrays.  Use a deterministic
            (un-augmented) pipeline.
        test: labelled queries, in the same forms as ``train``.
        k: number of neighbours.
        temperature: temperature of the ``exp(similarity / T)`` vote weights.
        every: evaluate every ``every`` epochs (on epochs ``every``,
            ``2 * every``, ...).
        batch_size: images per encoder call for unbatched/NumPy data.

    ``get_config`` records the scalar arguments only: datasets are not
    serialisable, so ``from_config`` needs ``train`` and ``test`` passed in
    the config dict by the caller.

    Example:

    ```python
    import keras, numpy as np
    from keras_contrastive.callbacks import KNNMonitor

    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1), np.uint8)
    labels = np.arange(64) % 4
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(images / 255, labels, epochs=1, verbose=0,
                        callbacks=[KNNMonitor((images, labels), (images, labels), k=5)])
    print(history.history["val_knn_acc"])
    ```
    """

    def __init__(self, train, test, k=200, temperature=0.1, every=1, batch_size=512):
        super().__init__()
        if not is_positive_int(k):
            raise ValueError(f"`k` must be a positive integer, got k={k!r}.")
        if not np.isscalar(temperature) or isinstance(temperature, bool) or not temperature > 0:
            raise ValueError(f"`temperature` must be a positive number, got temperature={temperature!r}.")
        if not is_positive_int(every):
            raise ValueError(f"`every` must be a positive integer, got every={every!r}.")
        if not is_positive_int(batch_size):
            raise ValueError(f"`batch_size` must be a positive integer, got batch_size={batch_size!r}.")
        self.train = train
        self.test = test
        self.k = int(k)
        self.temperature = float(temperature)
        self.every = int(every)
        self.batch_size = int(batch_size)

    def set_model(self, model):
        super().set_model(model)
        self._extractor = None

    def _encoder(self):
        if getattr(self, "_extractor", None) is None:  # built once per fit: shares the weights
            self._extractor = self._representation()
        return self._extractor

    def _representation(self):
        extractor = getattr(self.model, "feature_extractor", None)
        if callable(extractor):  # a ContrastiveModel: its representation
            return extractor()
        return getattr(self.model, "encoder", self.model)  # any other Keras model

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        accuracy = knn_accuracy(
            self._encoder(),
            self.train,
            self.test,
            k=self.k,
            temperature=self.temperature,
            batch_size=self.batch_size,
        )
        if logs is not None:
            logs["val_knn_acc"] = accuracy

    def get_config(self):
        return {
            "k": self.k,
            "temperature": self.temperature,
            "every": self.every,
            "batch_size": self.batch_size,
        }


class NonFiniteLossError(RuntimeError):
    """Raised by :class:`NaNGuard` when the training loss is NaN or infinite.

    Example:

    >>> from keras_contrastive.callbacks import NonFiniteLossError
    >>> issubclass(NonFiniteLossError, RuntimeError)
    True
    """


class CollapseError(RuntimeError):
    """Raised by :class:`CollapseMonitor` (``action="stop"``) on a collapse.

    Example:

    >>> from keras_contrastive.callbacks import CollapseError
    >>> issubclass(CollapseError, RuntimeError)
    True
    """


@keras.saving.register_keras_serializable(package="keras_contrastive")
class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, naming the step and the last finite values.

    After every batch it reads the step's ``loss`` (and any other logged
    scalar); on NaN or Inf it stops the run and raises
    :class:`NonFiniteLossError` with the epoch, the step, the bad values and
    the last finite logs, so that the cause (learning rate, temperature,
    mixed precision) can be traced.  With ``raise_error=False`` it only sets
    ``model.stop_training`` and keeps the message in ``self.message``.

    Example:

    >>> import keras
    >>> from keras_contrastive.callbacks import NaNGuard
    >>> guard = NaNGuard()  # model.fit(views, callbacks=[guard])
    """

    def __init__(self, raise_error=True):
        super().__init__()
        self.raise_error = raise_error
        self.message = None
        self._last_finite = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        logs = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in (logs or {}).items()
                if np.size(v) >= 1}
        bad = {k: v for k, v in logs.items() if not np.isfinite(v)}
        if not bad:
            self._last_finite = logs
            return
        self.message = (
            f"non-finite training values at epoch {self._epoch + 1}, step {batch + 1}: "
            f"{bad}; last finite step's logs: {self._last_finite}. Lower the learning rate, "
            "raise the temperature, or check the inputs (and loss scaling under mixed "
            "precision).")
        self.model.stop_training = True
        if self.raise_error:
            raise NonFiniteLossError(self.message)

    def get_config(self):
        return {"raise_error": self.raise_error}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class CollapseMonitor(keras.callbacks.Callback):
    """Warns about (or stops on) collapsed embeddings.

    Reads the ``embedding_std`` every model of this library logs (the mean
    per-dimension std of the l2-normalised embeddings: about ``1/sqrt(d)``
    when spread, 0 when every input maps to one point).  When it stays below
    ``threshold`` for ``patience`` consecutive steps the monitor warns once
    (``action="warn"``) or stops the run with :class:`CollapseError`
    (``action="stop"``).  ``self.collapsed_at`` holds ``(epoch, step,
    value)`` of the detection.

    Args:
        threshold: the std below which a step counts as collapsed (the
            library's tests use ``0.5 / sqrt(d)``; a fixed 0.01 flags only
            near-total collapse).
        patience: consecutive collapsed steps before acting.
        action: ``"warn"`` or ``"stop"``.

    Example:

    >>> from keras_contrastive.callbacks import CollapseMonitor
    >>> monitor = CollapseMonitor(threshold=0.01, patience=20, action="stop")
    """

    def __init__(self, threshold=0.01, patience=20, action="warn"):
        super().__init__()
        if action not in ("warn", "stop"):
            raise ValueError(f"`action` must be 'warn' or 'stop', got {action!r}.")
        if not threshold > 0 or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"need threshold > 0 and an integer patience >= 1, got "
                             f"threshold={threshold!r}, patience={patience!r}.")
        self.threshold, self.patience, self.action = threshold, patience, action
        self.collapsed_at = None
        self._run = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "embedding_std" not in logs:
            return
        value = float(np.asarray(logs["embedding_std"]).reshape(-1)[0])
        self._run = self._run + 1 if value < self.threshold else 0
        if self._run < self.patience or self.collapsed_at is not None:
            return
        self.collapsed_at = (self._epoch + 1, batch + 1, value)
        message = (f"embeddings collapsed: embedding_std below {self.threshold} for "
                   f"{self.patience} steps (epoch {self._epoch + 1}, step {batch + 1}, "
                   f"value {value:.2e}). Every input maps to nearly the same point; check "
                   "the augmentation strength, the predictor/momentum settings, or lower "
                   "the learning rate.")
        if self.action == "stop":
            self.model.stop_training = True
            raise CollapseError(message)
        import warnings

        warnings.warn(message, RuntimeWarning, stacklevel=2)

    def get_config(self):
        return {"threshold": self.threshold, "patience": self.patience, "action": self.action}


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` that resumes mid-epoch where the backup was taken.

    Keras 3's callback, given ``save_freq=N`` steps, restores the weights
    (optimizer slots and iteration count, queues, EMA targets, centers: every
    variable of the model and its optimizer) and the epoch of the last
    backup, but then trains that epoch again from its first batch: a run
    killed after ``k`` batches of an epoch trains those ``k`` batches twice,
    and its backups during the repeated epoch record epoch 0.  This callback
    also restores the position inside the epoch: a ``ContrastiveModel``
    reads the ``k`` batches the backup had already trained from the data
    iterator and drops them (``ContrastiveModel.resume_skip_batches``), so
    the resumed run trains the batches that follow the backup.  With a data
    pipeline that yields the same batches in every process (fixed views, or
    stateless augmentation keyed on the epoch), a run killed with SIGKILL and
    resumed ends with the weights of an uninterrupted run
    (``tests/test_kill_resume.py``).  The random state of a ``tf.data``
    augmentation pipeline is not part of the model, so a randomly augmented
    run resumes with fresh random views.

    Arguments are Keras': ``backup_dir``, ``save_freq`` (``"epoch"`` or a
    number of batches), ``double_checkpoint``, ``delete_checkpoint``.  For
    a Keras model that is not a ``ContrastiveModel`` it behaves as Keras'
    callback (the interrupted epoch is repeated) and warns.

    Example:

    ```python
    import tempfile
    import numpy as np
    import tensorflow as tf
    from keras_contrastive import backbones, models
    from keras_contrastive.callbacks import BackupAndRestore

    x = np.random.default_rng(0).uniform(size=(64, 28, 28, 1)).astype("float32")
    views = tf.data.Dataset.from_tensor_slices({"global": (x, x[:, :, ::-1])}).batch(16)
    model = models.SimCLR(backbones.small_cnn((28, 28, 1)))
    model.compile(optimizer="sgd")
    backup = BackupAndRestore(tempfile.mkdtemp(), save_freq=2)
    model.fit(views, epochs=2, callbacks=[backup], verbose=0)  # rerun the same line to resume
    ```
    """

    def on_train_begin(self, logs=None):
        self._replayed_until = -1  # last batch index of the epoch the backup had trained
        super().on_train_begin(logs)

    def _load_model(self):
        super()._load_model()
        if self.save_freq == "epoch" or not tf.io.gfile.exists(self._training_metadata_path):
            return  # a backup at an epoch's end: the next epoch starts from its first batch
        with tf.io.gfile.GFile(self._training_metadata_path) as f:
            metadata = json.load(f)
        epoch, batch = int(metadata["epoch"]), int(metadata.get("batch", 0))
        steps = (self.params or {}).get("steps")
        if steps is not None and batch + 1 >= steps:  # the epoch had ended
            epoch, batch = epoch + 1, -1
        self.model._initial_epoch = epoch
        self._current_epoch = epoch  # Keras leaves 0 here, so later backups said epoch 0
        if batch < 0:
            return
        if not hasattr(self.model, "resume_skip_batches"):
            warnings.warn(
                f"BackupAndRestore: {type(self.model).__name__} is not a ContrastiveModel; "
                f"epoch {epoch + 1} restarts from its first batch (the backup was taken after "
                f"batch {batch + 1}).", stacklevel=2)
            return
        spe = int(getattr(self.model, "steps_per_execution", 1) or 1)
        if (batch + 1) % spe:
            raise ValueError(
                f"BackupAndRestore: the backup was taken after batch {batch + 1}, not a multiple "
                f"of steps_per_execution={spe}; resume with the steps_per_execution of the "
                "interrupted run.")
        self.model.resume_skip_batches = batch + 1
        self._replayed_until = batch
        self._last_batch_seen = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch <= self._replayed_until:
            return  # a batch dropped by the model: trained before the interruption
        self._replayed_until = -1
        super().on_train_batch_end(batch, logs)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' ``TensorBoard`` with every epoch's scalars written.

    With an integer ``update_freq``, Keras records summaries only while the
    global step is a multiple of ``update_freq`` -- the end-of-epoch scalars
    included -- so ``epoch_loss`` and ``epoch_val_*`` (e.g. ``KNNMonitor``'s
    ``val_knn_acc``) go missing whenever the steps per epoch are not a
    multiple of it (tensorflow/tensorflow#49109).  This subclass writes them
    always.  Needs the ``tensorboard`` package (a dependency of this one).

    Example:

    ```python
    import tempfile
    import keras, numpy as np
    from keras_contrastive.callbacks import KNNMonitor, TensorBoard

    images = np.random.default_rng(0).integers(0, 256, (48, 8, 8, 1), np.uint8)
    labels = np.arange(48) % 4
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images / 255, labels, batch_size=16, epochs=2, verbose=0,  # 3 steps per epoch
              callbacks=[KNNMonitor((images, labels), (images, labels), k=5),  # first: its
                         TensorBoard(tempfile.mkdtemp(), update_freq=10)])   # kNN is logged
    ```
    """

    def _log_epoch_metrics(self, epoch, logs):
        with tf.summary.record_if(True):
            super()._log_epoch_metrics(epoch, logs)
