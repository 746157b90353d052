"""One pretraining run end to end: data -> views -> model.fit -> evaluation.

``pretrain(config)`` composes the other modules of the package: the data by
name (``sources``), the builders (``builders``: backbone, model, views,
optimizer), ``model.fit``, and the evaluation of the frozen encoder.

Example:

>>> from keras_contrastive.pretraining import PRESETS, pretrain
>>> config = PRESETS["demo"].replace(epochs=1, train_subset=512, eval_train_subset=512,
...                                  eval_test_subset=256, width=4)
>>> result = pretrain(config, verbose=0)  # doctest: +SKIP
>>> sorted(result.metrics)  # doctest: +SKIP
['knn_acc', 'linear_acc', 'random_knn_acc', 'random_linear_acc']
"""
import contextlib
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import data as kc_data
from keras_contrastive import distribute, models, views
from keras_contrastive.evaluation import evaluate_encoder
from keras_contrastive.pretraining.builders import (
    build_augment, build_model, build_optimizer, build_view_maker, encoder_input_shape)
from keras_contrastive.pretraining.sources import label_names, open_splits, open_training_splits


@dataclasses.dataclass
class PretrainResult:
    model: keras.Model
    history: dict
    seconds: float
    pairs_per_s: float
    metrics: dict


def evaluate(encoder, train, test, config):
    """kNN (top-1, and top-5 with more than 5 classes) and linear-probe
    accuracy of a frozen encoder, on one extraction of its features.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.pretraining import PretrainConfig, evaluate, load_labelled
    >>> images, labels = load_labelled("fashion_mnist", "test")
    >>> metrics = evaluate(backbones.small_cnn((28, 28, 1)), (images[:300], labels[:300]),
    ...                    (images[300:400], labels[300:400]), PretrainConfig(knn_k=20))
    >>> sorted(metrics)
    ['knn_acc', 'knn_top5_acc', 'linear_acc']
    """
    return evaluate_encoder(encoder, train, test, ("knn", "linear"), knn_k=config.knn_k,
                            knn_temperature=config.knn_temperature, seed=config.seed)


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)


def _subset(data, n):
    """The first ``n`` labelled images of arrays or of a (batched or unbatched)
    ``tf.data`` of ``(image, label)``, as arrays (all for ``n=None``)."""
    if not isinstance(data, tf.data.Dataset):
        images, labels = data
        return (images[:n], labels[:n]) if n else (images, labels)
    if data.element_spec[1].shape.rank == 1:  # batches
        data = data.unbatch()
    pairs = list((data.take(n) if n else data).batch(1024).as_numpy_iterator())
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def _counted(n, noun):
    """``"1 epoch"``, ``"3 epochs"``: a count and its noun, in the plural unless 1."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _count(data):
    return len(data[0]) if isinstance(data, tuple) else None


def write_view_summary(logdir, view_batches, max_images=8):
    """Writes the first batch's views as TensorBoard images (``logdir/views``).

    Example:

    >>> import tempfile
    >>> import numpy as np, tensorflow as tf
    >>> from keras_contrastive import views
    >>> from keras_contrastive.pretraining import write_view_summary
    >>> images = np.zeros((8, 28, 28, 1), np.uint8)
    >>> pairs = views.make_views(tf.data.Dataset.from_tensor_slices(images),
    ...                          views.simclr_augment(28, channels=1), batch_size=4)
    >>> write_view_summary(tempfile.mkdtemp(), pairs)  # logdir/views: global_0, global_1
    """
    writer = tf.summary.create_file_writer(os.path.join(logdir, "views"))
    batch = next(iter(view_batches.take(1)))
    with writer.as_default():
        for key, value in batch.items():
            if key in views.spec.PER_IMAGE_KEYS:  # integers per image, not images
                continue
            for index, images in enumerate(value if isinstance(value, (tuple, list)) else [value]):
                images = images[:max_images]
                scale = 1 / 255 if images.dtype == tf.uint8 else 1.0
                images = tf.cast(images, tf.float32) * scale
                if images.shape.rank == 4 and images.shape[-1] in (1, 3):
                    tf.summary.image(f"{key}_{index}", tf.clip_by_value(images, 0.0, 1.0),
                                     step=0, max_outputs=max_images)
    writer.flush()


# the settings a run may change when it resumes a backup: the length of the run, and
# the evaluation after it
_RESUMABLE_CHANGES = ("epochs", "eval_train_subset", "eval_test_subset", "eval_dataset",
                      "knn_k", "knn_temperature")


def _check_backups(config, callbacks):
    """Gives each ``BackupAndRestore`` of ``callbacks`` the run's settings as its identity
    and refuses, before any work, a backup written with other settings; returns them."""
    from keras_contrastive.callbacks import BackupAndRestore

    identity = {key: value for key, value in dataclasses.asdict(config).items()
                if key not in _RESUMABLE_CHANGES}
    backups = [callback for callback in callbacks if isinstance(callback, BackupAndRestore)]
    for callback in backups:
        callback.identity = {**identity, **callback.identity}
        callback.check()
    return backups


class _StartsAt(keras.callbacks.Callback):
    """Refuses a resume whose epoch is not the one the data were positioned at (a
    backup that ``BackupAndRestore.resume_epoch`` took as whole, then failed to load)."""

    def __init__(self, epoch, last):
        super().__init__()
        self.epoch, self.last = epoch, last

    def on_train_begin(self, logs=None):
        resumed = min(int(getattr(self.model, "_initial_epoch", 0) or 0), self.last)
        if resumed != self.epoch:
            raise ValueError(
                f"the backup resumed is of epoch {resumed + 1}, but the training data were "
                f"positioned at epoch {self.epoch + 1} by a newer backup that did not load "
                "(named in the warning above, and deleted): run the same command again.")


@contextlib.contextmanager
def _op_determinism(enabled):
    """TensorFlow's op determinism on (``enabled``) for the block, as it was after."""
    from tensorflow.python.framework import config as tf_config  # the switch's reading and
    # its undoing are not in the public API (tf.config.experimental has only enable_...)

    before = tf_config.is_op_determinism_enabled()
    if enabled and not before:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not before:
            tf_config.disable_op_determinism()


def pretrain(config, callbacks=(), verbose=1, evaluate_random_init=True, log=print,
             evaluator=evaluate, strategy=None, logdir=None):
    """Pretrains ``config.method`` and evaluates it (and random init).

    The training images stream from a folder or a TFDS data set (files read
    on the fly, ``sources.Split.training_images``); the named arrays
    (Fashion-MNIST) are used from memory.
    ``evaluator(encoder, train, test, config)`` returns the metrics dict
    (default: :func:`evaluate`, kNN and linear probe); ``train`` and ``test``
    are ``(images, labels)`` arrays of the first ``eval_train_subset`` /
    ``eval_test_subset`` images, or, for a folder or TFDS split without a
    subset, a ``tf.data`` of ``(image, label)`` streamed into features.
    ``strategy``: a ``tf.distribute`` strategy to build and train under
    (``config.batch_size`` is the global batch; under
    ``MultiWorkerMirroredStrategy`` every worker takes its replicas' slices
    of each global batch, ``AutoShardPolicy.DATA``).  ``logdir``: TensorBoard
    logs: loss and representation health every 10 steps and epoch, the kNN
    accuracy on (up to) 2,000 / 1,000 of the labelled images each epoch, and
    an image summary of the first batch of views.
    Returns a :class:`PretrainResult`; ``pairs_per_s`` is view pairs per
    second over the median epoch (the first epoch includes tracing; ``None``
    when the run resumed a backup of its finished training: no step left).
    A ``callbacks.BackupAndRestore`` among ``callbacks`` gets the run's
    settings as its ``identity`` (all of ``config`` but the epochs and the
    evaluation's settings): a backup of a run with other settings is refused
    with a ``ValueError`` naming them, before any work.
    Each epoch's data order is a function of ``(config.seed, epoch)``
    (``views.make_views(..., epochs=...)``, trained with ``steps_per_epoch``),
    and a resumed run starts the data at the epoch its backup resumes
    (``BackupAndRestore.resume_epoch``).  ``config.deterministic``: TensorFlow's
    op determinism for the run and views keyed on ``(seed, epoch, batch)``, so
    the same seed gives bit-identical weights, a killed-and-resumed run included.

    Example:

    >>> from keras_contrastive.pretraining import PRESETS, pretrain
    >>> config = PRESETS["quality"].replace(epochs=1, batch_size=64, width=4, train_subset=256,
    ...                                     eval_train_subset=200, eval_test_subset=100)
    >>> result = pretrain(config, verbose=0, evaluate_random_init=False, log=lambda *a: None)
    >>> sorted(result.metrics), len(result.history["loss"])
    (['knn_acc', 'knn_top5_acc', 'linear_acc'], 1)
    """
    with _op_determinism(config.deterministic):
        return _pretrain(config, callbacks, verbose, evaluate_random_init, log, evaluator,
                         strategy, logdir)


#: the line a run on a data set without labels prints (and nothing is evaluated)
NO_LABELS_LINE = ("no labels: evaluation skipped; pass --eval-dataset LABELLED_FOLDER_OR_TFDS "
                  "to evaluate")


def warn_without_test_folder(train, test, log, what="", alternative=""):
    """Says so (``log``) when ``train`` and ``test`` are one folder's images (a folder
    without ``test/``): the evaluation figures are then not on held-out images."""
    if train.root is not None and train.root == test.root:
        what = f" ({what})" if what else ""
        log(f"warning: {train.name!r} has no test/ folder: the evaluation figures are on its "
            f"training images{what}, not on held-out ones. Give it train/ and test/ "
            f"folders{alternative}.")


def _evaluation_splits(config, train, test, size, log):
    """``(eval_train, eval_test, counts)`` of the run's evaluation: ``config.eval_dataset``
    (resized to the run's ``size``) if set, else the run's own splits; ``(None, None,
    None)``, said in one line, when they have no labels.  A folder without ``test/``
    is evaluated on its training images, with a warning that says so."""
    if config.eval_dataset:
        train, test = open_splits(config.eval_dataset, image_size=size, log=log)
        train.require_labels("--eval-dataset", "--eval-dataset")
    elif test is None:
        log(NO_LABELS_LINE)
        return None, None, None
    warn_without_test_folder(train, test, log, "the images the encoder is pretrained on",
                             " or pass --eval-dataset")
    # the extractor (model.feature_extractor) takes the images as they are: any input
    # transform of the method (Colorization's lightness) is inside it
    counts = [min(split.count, n) if n else split.count for split, n in (
        (train, config.eval_train_subset), (test, config.eval_test_subset))]
    return (train.evaluation_data(config.eval_train_subset),
            test.evaluation_data(config.eval_test_subset), counts)


def _pretrain(config, callbacks, verbose, evaluate_random_init, log, evaluator, strategy,
              logdir):
    backups = _check_backups(config, callbacks)
    if config.deterministic and config.augment_on == "device":
        raise ValueError("deterministic=True makes the views in tf.data, keyed on the seed, "
                         "epoch and batch: it needs augment_on='data' (--augment-on data).")
    keras.utils.set_random_seed(config.seed)
    train, test = open_training_splits(config.dataset, config.image_size, log)
    count = min(train.count, config.train_subset) if config.train_subset else train.count
    height, width, channels = train.image_shape
    # an int for square views (the methods' own sizes), else (height, width)
    size = height if height == width else (height, width)
    eval_train, eval_test, eval_counts = _evaluation_splits(config, train, test, (height, width),
                                                            log)
    augment = build_augment(config, size, channels)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():  # refuses bad settings before any work
        model = build_model(config, encoder_input_shape(config, size, channels), count)
    maker = build_view_maker(config, model, augment, size, channels)
    if config.augment_on == "device":
        model.device_views = maker  # the step makes the views of each batch of images
    steps = count // config.batch_size
    # each epoch's order (and, deterministic, its views) is a function of (seed, epoch):
    # a resumed run starts the data at the epoch its backup resumes
    first_epoch = min(max([backup.resume_epoch(steps) for backup in backups], default=0),
                      config.epochs - 1)
    # supervised contrastive methods (SupCon) see the labels; the others never do.
    # NPID's memory bank reads each image's index
    per_image = {"labels": model.needs_labels, "indices": model.needs_indices}
    images, stream_options = train.training_images(config.train_subset, seed=config.seed,
                                                   **per_image)
    view_batches = views.make_views(images, maker, batch_size=config.batch_size,
                                    seed=config.seed, augment_on=config.augment_on,
                                    epochs=config.epochs, initial_epoch=max(first_epoch, 0),
                                    deterministic=config.deterministic,
                                    **per_image, **stream_options)
    # refuse unusable views before any evaluation
    model.check_views(view_batches, steps_per_epoch=steps)
    if distribute.is_multi_worker(strategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        view_batches = view_batches.with_options(options)
    with strategy.scope():
        model.compile(optimizer=build_optimizer(config, steps))

    metrics = {}
    # built once: it shares the encoder's weights, so it reads them after training too
    extractor = model.feature_extractor((height, width, channels))
    if evaluate_random_init and eval_train is not None:
        log(f"Evaluating the encoder at random init on {eval_counts[0]}/{eval_counts[1]} "
            "labelled images ...")
        random_init = evaluator(extractor, eval_train, eval_test, config)
        metrics.update({f"random_{k}": v for k, v in random_init.items()})
    log(f"Pretraining {config.method} on {count} images of {config.dataset}: "
        f"{_counted(config.epochs, 'epoch')} of {_counted(steps, 'step')}, "
        f"batch {config.batch_size}")
    timer = _EpochTimer()
    callbacks = [timer, *callbacks, _StartsAt(max(first_epoch, 0), config.epochs - 1)]
    if logdir:
        from keras_contrastive.callbacks import KNNMonitor, TensorBoard

        write_view_summary(logdir, view_batches)
        # the monitor first: TensorBoard then logs its val_knn_acc
        monitor = [] if eval_train is None else [KNNMonitor(
            _subset(eval_train, 2000), _subset(eval_test, 1000), k=min(config.knn_k, 2000),
            temperature=config.knn_temperature)]
        callbacks = [*monitor, *callbacks, TensorBoard(logdir, update_freq=10)]
    start = time.perf_counter()
    history = model.fit(view_batches, epochs=config.epochs, steps_per_epoch=steps,
                        callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    # None: no epoch left to train (a resumed backup of the finished run)
    pairs_per_s = (steps * config.batch_size / float(np.median(timer.epoch_seconds))
                   if timer.epoch_seconds else None)
    if eval_train is not None:
        log("Evaluating the pretrained encoder ...")
        metrics.update(evaluator(extractor, eval_train, eval_test, config))
    return PretrainResult(model, history.history, seconds, pairs_per_s, metrics)


def format_report(config, result):
    """The run's figures as a small table (random init and pretrained rows).

    Example:

    >>> from keras_contrastive.pretraining import PRESETS, PretrainResult, format_report
    >>> config = PRESETS["quality"].replace(epochs=1)
    >>> result = PretrainResult(model=None, history={}, seconds=12.0, pairs_per_s=85.0,
    ...                         metrics={"knn_acc": 0.81, "linear_acc": 0.85})
    >>> print(format_report(config, result))
    simclr on fashion_mnist: 1 epoch in 12 s (85 view pairs/s)
    encoder            kNN acc  linear acc
    pretrained          0.8100      0.8500
    """
    m = result.metrics
    speed = ("no step left to train: resumed the finished run's backup"
             if result.pairs_per_s is None else f"{result.pairs_per_s:.0f} view pairs/s")
    lines = [f"{config.method} on {config.dataset}: {_counted(config.epochs, 'epoch')} in "
             f"{result.seconds:.0f} s ({speed})"]
    columns = [("kNN acc", "knn_acc"), ("kNN top-5", "knn_top5_acc"), ("linear acc", "linear_acc")]
    columns = [(title, key) for title, key in columns if key in m]
    if not columns:
        return "\n".join(lines + ["not evaluated (no labels): pass --eval-dataset "
                                  "LABELLED_FOLDER_OR_TFDS to evaluate"])
    lines.append(f"{'encoder':<14}" + "".join(f"{title:>12}" for title, _ in columns))
    for row, prefix in (("random init", "random_"), ("pretrained", "")):
        if prefix + "knn_acc" in m:
            lines.append(f"{row:<14}" + "".join(f"{m[prefix + key]:>12.4f}" for _, key in columns))
    return "\n".join(lines)


def export_pretrained(config, result, path, version=1, overwrite=False):
    """Exports the run's encoder (``export.export_encoder``) with the run's
    data, configuration, figures and label map (``class_names``: a folder's
    class names in label order, ``null`` for named and TFDS data sets) in
    ``metadata.json``; returns the version directory.

    Example:

    >>> from keras_contrastive.pretraining import (
    ...     PRESETS, PretrainResult, build_model, export_pretrained)
    >>> config = PRESETS["quality"].replace(width=4, train_subset=256)
    >>> result = PretrainResult(build_model(config, (28, 28, 1)), {}, 1.0, 1.0,
    ...                         {"knn_acc": 0.5})
    >>> import tempfile
    >>> from keras_contrastive.export import read_metadata
    >>> path = export_pretrained(config, result, tempfile.mkdtemp())
    >>> read_metadata(path)["training_data"]
    'fashion_mnist[:256]'
    """
    from keras_contrastive.export import export_encoder

    return export_encoder(result.model, path, version=version, overwrite=overwrite,
                          metadata=run_record(config, result))


def recorded_dataset_name(dataset):
    """How a run records its data set: a folder as its absolute path (so that
    ``evaluate`` finds it from any directory), a named or TFDS data set (and
    ``None``) as given.

    >>> import os, tempfile
    >>> from keras_contrastive.pretraining.run import recorded_dataset_name
    >>> folder = tempfile.mkdtemp()
    >>> recorded_dataset_name(os.path.relpath(folder)) == folder
    True
    >>> recorded_dataset_name("fashion_mnist"), recorded_dataset_name(None)
    ('fashion_mnist', None)
    """
    if dataset and dataset not in kc_data.NAMED_ARRAYS and os.path.isdir(dataset):
        return os.path.abspath(dataset)
    return dataset


def run_record(config, result):
    """What a run's export (``metadata.json``) and saved model record of it: the data
    set as the user gave it, a folder as its absolute path (``dataset``, and
    ``eval_dataset``: :func:`recorded_dataset_name`), the images trained
    on (``training_data``), the optimizer and peak learning rate actually used,
    the figures, the config and the label map.

    >>> from keras_contrastive.pretraining import PRESETS, PretrainResult
    >>> from keras_contrastive.pretraining.run import run_record
    >>> record = run_record(PRESETS["quality"].replace(method="byol", batch_size=512),
    ...                     PretrainResult(None, {}, 1.0, 1.0, {}))
    >>> record["dataset"], record["optimizer"]["name"], record["optimizer"]["learning_rate"]
    ('fashion_mnist', 'sgd', 1.0)
    """
    optimizer = getattr(result.model, "optimizer", None)
    dataset = recorded_dataset_name(config.dataset)
    return {
        "dataset": dataset, "eval_dataset": recorded_dataset_name(config.eval_dataset),
        "training_data": dataset + (
            f"[:{config.train_subset}]" if config.train_subset else ""),
        "optimizer": {"name": config.optimizer_name,
                      "class": type(optimizer).__name__ if optimizer is not None else None,
                      "learning_rate": config.peak_learning_rate,
                      "schedule": "linear warm-up, then cosine decay to 0",
                      "weight_decay": config.effective_weight_decay,
                      "warmup_epochs": config.effective_warmup_epochs},
        "metrics": result.metrics, "config": dataclasses.asdict(config),
        "class_names": label_names(config.dataset) or None}


#: the entry of a ``.keras`` file (a zip) that holds :func:`run_record`
RUN_RECORD_ENTRY = "keras_contrastive_run.json"


def save_model(config, result, path):
    """Saves the run's whole model to ``path`` (a ``.keras`` file, ``model.save``)
    with :func:`run_record` inside it, so that ``keras-contrastive export`` of it
    keeps the config and figures, and ``evaluate`` finds its data set.

    >>> import os, tempfile, keras
    >>> from keras_contrastive.pretraining import PRESETS, PretrainResult
    >>> from keras_contrastive.pretraining.run import read_run_record, save_model
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])  # a run's model
    >>> path = os.path.join(tempfile.mkdtemp(), "run.keras")
    >>> save_model(PRESETS["quality"], PretrainResult(model, {}, 1.0, 1.0, {"knn_acc": 0.5}), path)
    >>> read_run_record(path)["metrics"], keras.models.load_model(path).output_shape
    ({'knn_acc': 0.5}, (None, 2))
    """
    import json
    import zipfile

    from keras_contrastive.export import jsonable_metadata

    record = jsonable_metadata(run_record(config, result))
    result.model.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(RUN_RECORD_ENTRY, json.dumps(record, indent=2, allow_nan=False))


def read_run_record(path):
    """The :func:`run_record` saved in a ``.keras`` file by :func:`save_model`, or
    None (a model saved otherwise, or not a ``.keras`` file).

    >>> import os, tempfile
    >>> from keras_contrastive.pretraining import read_run_record
    >>> path = os.path.join(tempfile.mkdtemp(), "other.keras")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a zip")
    >>> read_run_record(path) is None
    True
    """
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if RUN_RECORD_ENTRY not in archive.namelist():
                return None
            return json.loads(archive.read(RUN_RECORD_ENTRY))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
