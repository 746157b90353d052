"""Training-time callbacks: representation quality (kNN), NaN guard, collapse
monitor, and an atomic backup that resumes mid-epoch exactly."""
import contextlib
import hashlib
import json
import os
import re
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


_RECORD = re.compile(r"^backup-(\d+)\.json$")
_KERAS_WEIGHTS, _KERAS_METADATA = "latest.weights.h5", "training_metadata.json"  # Keras' layout
_TEMPORARY = ".tmp-"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path):
    """Flushes a file (or a folder's entries) to the disk; a no-op where the OS refuses."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace(temporary, path):
    """Renames a complete ``temporary`` file onto ``path`` in one step (``os.replace``)."""
    _fsync(temporary)
    os.replace(temporary, path)
    _fsync(os.path.dirname(path))


def _plain(values):
    """``values`` as JSON would give them back (tuples as lists, other objects as strings)."""
    return json.loads(json.dumps(values, default=str, sort_keys=True))


def _reason(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Backs a run up atomically and resumes it exactly, mid-epoch included.

    **Backups** (every ``save_freq`` batches, or at each epoch's end) are
    pairs of files in ``backup_dir``: ``backup-<step>.weights.h5`` (every
    variable of the model and its optimizer: slots, iteration count, queues,
    EMA targets, centers) and ``backup-<step>.json``, its record (epoch,
    batch, optimizer step, the weights file's size and SHA-256, and the run's
    ``identity``).  Each file is written under a temporary name and renamed
    into place (``os.replace``), the weights first: a backup exists only once
    its record does, and a kill at any moment leaves the earlier backups
    whole.  The last ``keep`` backups are kept; older ones are deleted only
    after the new one is complete.  A backup is **skipped** (with a
    ``RuntimeWarning``) when a logged value (the loss) or a variable is NaN
    or infinite, so a run stopped by :class:`NaNGuard` resumes from its last
    finite state.

    **Resume** (``on_train_begin``, when the folder holds backups) takes the
    newest backup that is whole: its record reads, its weights file has the
    recorded size and checksum and loads, and the optimizer step loaded is
    the recorded one.  Damaged newer backups (a file truncated by a full
    disk, a record of one step beside weights of another) are named in a
    ``RuntimeWarning`` and deleted; if no backup is usable, a ``ValueError``
    says so and why for each file.  A backup whose ``identity`` differs from
    this run's (e.g. ``{"method": ..., "batch_size": ...}``; the model's
    class and the steps per epoch are always compared) is refused with a
    ``ValueError`` naming each difference: resuming it would silently mix two
    runs.  ``check()`` makes that comparison up front, before any work.

    The run then goes on where the backup was taken: Keras' own callback
    trains the interrupted epoch again from its first batch; here a
    ``ContrastiveModel`` reads the batches the backup had already trained
    from the data iterator and drops them (``resume_skip_batches``).  With a
    data pipeline that yields the same batches in every process (fixed
    views, or stateless augmentation keyed on the epoch), a run killed with
    SIGKILL and resumed ends with the weights of an uninterrupted run
    (``tests/test_kill_resume.py``).  The random state of a ``tf.data``
    augmentation pipeline is not part of the model, so a randomly augmented
    run resumes with fresh random views.  For a Keras model that is not a
    ``ContrastiveModel`` the interrupted epoch restarts from its first batch,
    with a warning.

    Args:
        backup_dir: a local folder used by this run only; deleted when
            training ends (with ``delete_checkpoint=True``).  With
            ``delete_checkpoint=False`` the folder is kept, and the state at
            the end of training is backed up (unless a backup of that step
            exists): a rerun resumes it with no step left to train, so a
            failure after training (evaluating, saving) loses no work;
            delete the folder once the run's outputs are written.
        save_freq: ``"epoch"`` or a number of batches.
        double_checkpoint: accepted for Keras' signature; backups are always
            kept two deep (``keep``).
        delete_checkpoint: delete ``backup_dir`` when training ends.
        identity: a dict of JSON values naming the run's settings; a backup
            written with different values is refused on resume.
        keep: how many complete backups to keep (>= 1; 2 keeps a fallback).

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
    backup = BackupAndRestore(tempfile.mkdtemp(), save_freq=2, identity={"batch_size": 16})
    model.fit(views, epochs=2, callbacks=[backup], verbose=0)  # rerun the same line to resume
    ```
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True, identity=None, keep=2):
        super().__init__(os.fspath(backup_dir), save_freq=save_freq,
                         double_checkpoint=double_checkpoint,
                         delete_checkpoint=delete_checkpoint)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or save_freq < 1):
            raise ValueError(f"`save_freq` must be 'epoch' or a positive number of batches, "
                             f"got save_freq={save_freq!r}.")
        if not is_positive_int(keep):
            raise ValueError(f"`keep` must be a positive integer, got keep={keep!r}.")
        if identity is not None and not isinstance(identity, dict):
            raise ValueError(f"`identity` must be a dict, got identity={identity!r}.")
        self.identity = dict(identity or {})
        self.keep = int(keep)
        self.restored = None  # the record of the backup the run resumed from
        self._logs, self._at_epoch_end = None, False

    # -- the folder -----------------------------------------------------------------------

    def _path(self, name):
        return os.path.join(self.backup_dir, name)

    def _records(self):
        """``[(step, record file name)]`` of the folder, newest first."""
        if not os.path.isdir(self.backup_dir):
            return []
        found = [(int(m.group(1)), name) for name in os.listdir(self.backup_dir)
                 if (m := _RECORD.match(name))]
        return sorted(found, reverse=True)

    def _candidates(self):
        """``[(record file, weights file or None, legacy)]``, newest first; a backup in
        Keras' own layout (``latest.weights.h5``) last."""
        candidates = [(name, name[:-len(".json")] + ".weights.h5", False)
                      for _, name in self._records()]
        if os.path.exists(self._path(_KERAS_WEIGHTS)):
            candidates.append((_KERAS_METADATA, _KERAS_WEIGHTS, True))
        return candidates

    def _run_identity(self):
        identity = dict(self.identity)
        if self.model is not None:
            identity.setdefault("model", type(self.model).__name__)
        steps = (self.params or {}).get("steps")
        if steps is not None:
            identity.setdefault("steps_per_epoch", int(steps))
        return _plain(identity)

    def _compare(self, record_name, record):
        """Raises ``ValueError`` naming each setting the backup and this run differ in."""
        theirs, ours = record.get("identity") or {}, self._run_identity()
        differ = [f"{key}={theirs[key]!r} there, {ours[key]!r} here"
                  for key in sorted(set(theirs) & set(ours)) if theirs[key] != ours[key]]
        if differ:
            raise ValueError(
                f"BackupAndRestore: the backup {self._path(record_name)!r} was written by a "
                f"run with other settings ({'; '.join(differ)}); resuming it would mix two "
                "runs. Resume with the settings of the interrupted run, or start a new run "
                "with another backup folder (or delete this one).")

    def _read(self, name):
        with open(self._path(name)) as f:
            record = json.load(f)
        if not isinstance(record, dict) or "epoch" not in record:
            raise ValueError("not a backup record")
        return record

    def check(self):
        """Raises ``ValueError`` now if the folder's newest readable backup was
        written by a run of another ``identity`` (see the class); returns its
        record, or ``None`` if the folder holds no backup.  Needs no model:
        call it before any work (``pretraining.pretrain`` does).

        Example:

        >>> import tempfile
        >>> from keras_contrastive.callbacks import BackupAndRestore
        >>> BackupAndRestore(tempfile.mkdtemp(), identity={"batch_size": 256}).check() is None
        True
        """
        for name, _, _ in self._candidates():
            try:
                record = self._read(name)
            except (OSError, ValueError):
                continue  # damaged: on_train_begin falls back past it, and says so
            self._compare(name, record)
            return record
        return None

    # -- resume ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._replayed_until = -1  # last batch index of the epoch the backup had trained
        self.restored = None
        if os.path.isdir(self.backup_dir):
            for name in os.listdir(self.backup_dir):  # left by a process killed mid-write
                if name.startswith(_TEMPORARY):
                    with contextlib.suppress(OSError):
                        os.remove(self._path(name))
        self._load_model()

    def resume_epoch(self, steps_per_epoch):
        """The epoch (0-based) a run resumed from this folder starts in: 0 without
        a backup; else the epoch of the newest backup whose record reads and
        whose weights file is the one it describes (the backup ``fit`` will
        resume, unless its file does not load), or the next one when that
        backup was taken after its epoch's last batch.  Refuses a backup of
        another run as ``check()`` does.  A data pipeline positioned by epoch
        (``views.make_views(..., initial_epoch=...)``) starts there.

        Example:

        >>> import tempfile
        >>> from keras_contrastive.callbacks import BackupAndRestore
        >>> BackupAndRestore(tempfile.mkdtemp()).resume_epoch(steps_per_epoch=10)
        0
        """
        for name, weights, legacy in self._candidates():
            try:
                record = self._verified(name, weights, legacy)
            except _Damaged:
                continue
            return self._start(record, steps_per_epoch)[0]
        return 0

    def _verified(self, name, weights, legacy):
        """One backup's record, checked against this run and its weights file (not
        loaded); raises ``_Damaged`` saying why not."""
        try:  # Keras' layout may have weights without a record: epoch 0
            record = (self._read(name) if os.path.exists(self._path(name)) or not legacy
                      else {"epoch": 0})
        except (OSError, ValueError) as error:
            raise _Damaged(f"its record cannot be read ({_reason(error)})") from None
        self._compare(name, record)
        path = self._path(weights)
        if not os.path.exists(path):
            raise _Damaged(f"its weights file {os.path.basename(path)} is missing")
        if "bytes" in record and (os.path.getsize(path) != record["bytes"]
                                  or _sha256(path) != record.get("sha256")):
            raise _Damaged(f"{os.path.basename(path)} is not the file its record describes "
                           f"({os.path.getsize(path)} bytes, recorded {record['bytes']}): "
                           "written by an interrupted backup or damaged since")
        return record

    def _restore(self, name, weights, legacy):
        """Loads one backup; returns its record, or raises ``_Damaged`` saying why not."""
        record = self._verified(name, weights, legacy)
        path = self._path(weights)
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)  # its slots, to load into
        try:
            self.model.load_weights(path)
        except Exception as error:  # noqa: BLE001 -- h5py and Keras raise many kinds
            raise _Damaged(f"{os.path.basename(path)} does not load ({_reason(error)})") from None
        if optimizer is not None and "iterations" in record:
            loaded = int(optimizer.iterations.numpy())
            if loaded != int(record["iterations"]):
                raise _Damaged(f"{os.path.basename(path)} holds step {loaded}, its record says "
                               f"step {record['iterations']}")
        return dict(record, file=self._path(name))

    def _load_model(self):
        candidates = self._candidates()
        if not candidates:
            return
        if not self.model.built:
            raise ValueError(f"BackupAndRestore: build {type(self.model).__name__} before "
                             "fit() to resume it (call it on a batch of data).")
        damaged = []
        for name, weights, legacy in candidates:
            try:
                record = self._restore(name, weights, legacy)
                break
            except _Damaged as why:
                damaged.append(f"{self._path(name)}: {why}")
        else:
            raise ValueError(
                f"BackupAndRestore: no usable backup in {self.backup_dir!r} -- "
                + "; ".join(damaged) + ". Delete the folder to start the run over.")
        if damaged:
            warnings.warn(
                "BackupAndRestore: skipped damaged backup(s) -- " + "; ".join(damaged)
                + f". Resuming from {record['file']!r} (step {record.get('iterations', '?')}); "
                "the damaged ones are deleted.", RuntimeWarning, stacklevel=2)
            for name, _, _ in candidates[:len(damaged)]:
                self._delete_backup(name)
        self.restored = record
        self._position(record)

    def _start(self, record, steps):
        """``(epoch, last batch trained in it or -1)`` a run resumed from ``record`` starts at."""
        epoch, batch = int(record["epoch"]), int(record.get("batch", -1))
        if self.save_freq == "epoch" and "iterations" not in record:
            batch = -1  # Keras' layout: the epoch recorded is the next one
        if steps is not None and batch + 1 >= steps:  # the epoch had ended
            epoch, batch = epoch + 1, -1
        return epoch, batch

    def _position(self, record):
        """Sets the epoch (and the batches to drop) the resumed run starts at."""
        epoch, batch = self._start(record, (self.params or {}).get("steps"))
        self.model._initial_epoch = epoch
        self._current_epoch = epoch  # Keras leaves 0 here, so later backups said epoch 0
        if batch < 0:
            return  # a backup at an epoch's end: the next epoch starts from its first batch
        if not hasattr(self.model, "resume_skip_batches"):
            warnings.warn(
                f"BackupAndRestore: {type(self.model).__name__} is not a ContrastiveModel; "
                f"epoch {epoch + 1} restarts from its first batch (the backup was taken after "
                f"batch {batch + 1}).", stacklevel=3)
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

    # -- backup ---------------------------------------------------------------------------

    def on_train_batch_end(self, batch, logs=None):
        if batch <= self._replayed_until:
            return  # a batch dropped by the model: trained before the interruption
        self._replayed_until = -1
        self._logs = logs
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._logs, self._at_epoch_end = logs, True
        try:
            super().on_epoch_end(epoch, logs)
        finally:
            self._at_epoch_end = False

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint and self._step() not in [s for s, _ in self._records()]:
            # the finished state, backed up: a rerun after a failure in what follows
            # training (evaluation, saving) resumes it with no step left to train
            self._at_epoch_end = True
            try:
                self._save_model()
            finally:
                self._at_epoch_end = False
        super().on_train_end(logs)

    def _non_finite(self):
        """What is NaN or infinite in the step's logs or the variables (``None``: nothing)."""
        for key, value in (self._logs or {}).items():
            value = np.asarray(value)
            if value.size and np.issubdtype(value.dtype, np.number) and not np.all(
                    np.isfinite(value.astype(np.float64))):
                return f"the logged {key!r} ({value.reshape(-1)[0]})"
        optimizer_variables = self.model.optimizer.variables if self.model.optimizer else []
        for variable in [*self.model.variables, *optimizer_variables]:
            if keras.backend.is_float_dtype(variable.dtype) and not bool(
                    tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(variable)))):
                return f"the variable {variable.path!r}"
        return None

    def _step(self):
        optimizer = self.model.optimizer
        return int(optimizer.iterations.numpy()) if optimizer is not None else 0

    def _save_model(self):
        step = self._step()
        bad = self._non_finite()
        if bad is not None:
            warnings.warn(
                f"BackupAndRestore: no backup at step {step}: {bad} is not finite; the last "
                "finite backup is kept.", RuntimeWarning, stacklevel=2)
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"backup-{step:012d}"
        weights = self._path(name + ".weights.h5")
        temporary = self._path(f"{_TEMPORARY}{os.getpid()}-{name}.weights.h5")
        self.model.save_weights(temporary, overwrite=True)
        _replace(temporary, weights)
        record = {
            "epoch": int(self._current_epoch),
            "batch": -1 if self._at_epoch_end else int(self._last_batch_seen),
            "iterations": step,
            "weights": os.path.basename(weights),
            "bytes": os.path.getsize(weights),
            "sha256": _sha256(weights),
            "identity": self._run_identity(),
        }
        temporary = self._path(f"{_TEMPORARY}{os.getpid()}-{name}.json")
        with open(temporary, "w") as f:
            json.dump(record, f, indent=1)
        _replace(temporary, self._path(name + ".json"))
        self._prune()

    def _delete_backup(self, name):
        """Deletes one backup, its record first (a lone weights file is no backup)."""
        stem = name[:-len(".json")]
        paths = ([_KERAS_METADATA, _KERAS_WEIGHTS] if name == _KERAS_METADATA
                 else [name, stem + ".weights.h5"])
        for path in paths:
            with contextlib.suppress(OSError):
                os.remove(self._path(path))

    def _prune(self):
        """Keeps the newest ``keep`` backups; deletes older ones, Keras-layout files and
        weights files without a record (a backup killed before its record)."""
        records = self._records()
        for _, name in records[self.keep:]:
            self._delete_backup(name)
        kept = {name[:-len(".json")] + ".weights.h5" for _, name in records[:self.keep]}
        for name in os.listdir(self.backup_dir):
            if ((name.startswith("backup-") and name.endswith(".weights.h5") and name not in kept)
                    or name in (_KERAS_WEIGHTS, _KERAS_METADATA)
                    or name in (_KERAS_WEIGHTS + ".bkp", _KERAS_METADATA + ".bkp")):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self._path(name))


class _Damaged(Exception):
    """A backup that cannot be resumed (internal: the reason is its message)."""


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
