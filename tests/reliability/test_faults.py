"""The fault matrix of checkpoints and resume (issue 30, "Faults: nothing lost").

One row per case: a backup folder as a run (or a fault) left it, the resume
attempted, and the outcome it must have -- resumed at a stated step, epoch and
position with or without a warning naming the damaged file, started fresh, or
refused with a ``ValueError`` naming the problem.  The runs are driven through
the callback protocol that ``model.fit`` uses (``on_train_begin``,
``on_train_batch_end``, ``on_epoch_end``) on a one-layer model, so a case costs
milliseconds; ``tests/test_kill_resume.py`` kills real training processes, and
``tests/test_callbacks.py`` resumes a real run stopped by ``NaNGuard``.

In the written runs, step ``k`` sets the optimizer's iteration count to ``k``
and every kernel weight to ``k``, so the resumed weights say which backup was
loaded.  Epochs have 4 steps: step 6 is epoch 2 (index 1), batch 2.
"""
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import warnings

import keras
import numpy as np
import pytest

from keras_contrastive import cli
from keras_contrastive.callbacks import BackupAndRestore
from keras_contrastive.pretraining import PRESETS
from keras_contrastive.pretraining.run import _check_backups

STEPS = 4  # steps per epoch of the written runs


def record(step):
    return f"backup-{step:012d}.json"


def weights(step):
    return f"backup-{step:012d}.weights.h5"


def make_model(units=2, steps_per_execution=1, functional=False, built=True):
    """A one-layer model with SGD momentum slots, resumable mid-epoch (``resume_skip_batches``,
    as a ``ContrastiveModel``)."""
    if functional:
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(units)(inputs))
    else:
        model = keras.Sequential(([keras.Input((3,))] if built else []) + [keras.layers.Dense(units)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse",
                  steps_per_execution=steps_per_execution)
    if built:
        model.optimizer.build(model.trainable_variables)
    model.resume_skip_batches = 0
    return model


def train(backup, model, last, losses=None, nan_kernel_at=()):
    """Drives ``backup`` as ``model.fit`` would for steps 1..``last``."""
    backup.set_model(model)
    backup.set_params({"epochs": 3, "steps": STEPS, "verbose": 0})
    backup.on_train_begin()
    kernel = model.layers[-1].kernel
    for step in range(1, last + 1):
        epoch, batch = divmod(step - 1, STEPS)
        if batch == 0:
            backup.on_epoch_begin(epoch)
        model.optimizer.iterations.assign(step)
        value = np.nan if step in nan_kernel_at else float(step)
        kernel.assign(np.full(kernel.shape, value, "float32"))
        logs = {"loss": (losses or {}).get(step, 1.0)}
        backup.on_train_batch_end(batch, logs)
        if batch == STEPS - 1:
            backup.on_epoch_end(epoch, logs)


# -- what a run or a fault leaves in the folder ---------------------------------------------

_WRITTEN = {}  # folders already written, by their arguments: cases copy them


@pytest.fixture(scope="module", autouse=True)
def _written_cache(tmp_path_factory):
    _WRITTEN["root"] = tmp_path_factory.mktemp("written")
    yield
    _WRITTEN.clear()


def written(last=6, save_freq=1, identity=None, keep=2, **run):
    """The folder of a run that backed up steps 1..``last`` (written once, then copied:
    the warnings of writing it show in the first case that uses it only)."""
    def write(folder):
        key = repr((last, save_freq, identity, keep, run))
        if key not in _WRITTEN:
            _WRITTEN[key] = str(_WRITTEN["root"] / str(len(_WRITTEN)))
            train(BackupAndRestore(_WRITTEN[key], save_freq=save_freq, identity=identity,
                                   keep=keep), make_model(), last, **run)
        if os.path.isdir(_WRITTEN[key]):
            shutil.copytree(_WRITTEN[key], folder, dirs_exist_ok=True)
    return write


def keras_layout(folder):
    """Two epochs backed up by Keras' own callback (``latest.weights.h5``)."""
    train(keras.callbacks.BackupAndRestore(folder), make_model(), 2 * STEPS)


def nothing(folder):
    pass


def empty_folder(folder):
    os.makedirs(folder)


def then(*steps):
    def apply(folder):
        for step in steps:
            step(folder)
    return apply


def truncate(name, keep=0.5):
    def damage(folder):
        path = os.path.join(folder, name)
        with open(path, "r+b") as f:
            f.truncate(int(os.path.getsize(path) * keep))
    return damage


def overwrite(name, text):
    def damage(folder):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    return damage


def remove(name):
    return lambda folder: os.remove(os.path.join(folder, name))


def copy(source, target):
    return lambda folder: shutil.copyfile(os.path.join(folder, source), os.path.join(folder, target))


def flip_byte(name):
    def damage(folder):
        path = os.path.join(folder, name)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
    return damage


def forge(step, other):
    """Weights of step ``other`` under step ``step``'s name, with a record that describes
    them (size and checksum): only the recorded step count can tell."""
    def damage(folder):
        copy(weights(other), weights(step))(folder)
        path = os.path.join(folder, record(step))
        with open(path) as f:
            data = json.load(f)
        with open(path.replace(".json", ".weights.h5"), "rb") as f:
            data["sha256"] = hashlib.sha256(f.read()).hexdigest()
        data["bytes"] = os.path.getsize(os.path.join(folder, weights(step)))
        with open(path, "w") as f:
            json.dump(data, f)
    return damage


# -- the outcomes -----------------------------------------------------------------------

@dataclasses.dataclass
class Resumed:
    step: int  # the optimizer step (and kernel value) loaded
    epoch: int  # the epoch index the run goes on with
    skip: int  # batches of that epoch the model drops (trained before the backup)
    warns: str = None  # a fragment of the one warning; None: no warning at all
    records: tuple = None  # the backups left in the folder after the resume


@dataclasses.dataclass
class Fresh:
    """No backup to resume: the run starts at step 0."""


@dataclasses.dataclass
class Checked:
    """``check()`` passes and returns the newest record."""
    step: int


@dataclasses.dataclass
class Refused:
    match: str  # fragments of the ValueError's message, in order ('.*' between)


@dataclasses.dataclass
class Case:
    id: str
    setup: object
    expected: object
    callback: dict = dataclasses.field(default_factory=dict)  # BackupAndRestore(**callback)
    model: dict = dataclasses.field(default_factory=dict)  # make_model(**model)
    steps: int = STEPS  # the resumed run's steps per epoch
    check_only: bool = False  # BackupAndRestore.check() alone, as pretrain calls it


ID = {"method": "simclr", "batch_size": 256}
CASES = [
    # intact backups
    Case("intact step backups", written(), Resumed(6, 1, 2, records=(5, 6))),
    Case("intact epoch backups", written(8, save_freq="epoch"), Resumed(8, 2, 0),
         callback={"save_freq": "epoch"}),
    Case("backup at an epoch's last batch", written(8, save_freq=4), Resumed(8, 2, 0),
         callback={"save_freq": 4}),
    Case("backup in the first epoch", written(3, save_freq=3), Resumed(3, 0, 3),
         callback={"save_freq": 3}),
    Case("keep=1 keeps one backup", written(keep=1), Resumed(6, 1, 2, records=(6,))),
    Case("keep=3 keeps three backups", written(keep=3), Resumed(6, 1, 2, records=(4, 5, 6))),
    Case("no folder: a fresh run", nothing, Fresh()),
    Case("an empty folder: a fresh run", empty_folder, Fresh()),
    Case("Keras' own layout resumes", keras_layout, Resumed(8, 2, 0),
         callback={"save_freq": "epoch"}),
    # kills inside a backup (writes are temporary files renamed into place)
    Case("killed writing the weights: a half temporary file",
         then(written(), copy(weights(6), ".tmp-99-backup-000000000007.weights.h5"),
              truncate(".tmp-99-backup-000000000007.weights.h5")), Resumed(6, 1, 2)),
    Case("killed between the weights and the record: weights without a record",
         then(written(), copy(weights(6), weights(7))), Resumed(6, 1, 2)),
    Case("killed writing the record: a temporary record",
         then(written(), copy(weights(6), weights(7)),
              overwrite(".tmp-99-backup-000000000007.json", '{"epoch": 1, "ba')),
         Resumed(6, 1, 2)),
    Case("killed before the first backup was complete: a fresh run",
         then(empty_folder, overwrite(weights(4), "half a file"),
              overwrite(".tmp-99-backup-000000000004.json", "{")), Fresh()),
    # damaged newest backup: the previous one, with a warning naming the file
    Case("newest weights truncated to half", then(written(), truncate(weights(6))),
         Resumed(5, 1, 1, warns=weights(6) + " is not the file its record describes",
                 records=(5,))),
    Case("newest weights truncated to 0 bytes", then(written(), truncate(weights(6), 0)),
         Resumed(5, 1, 1, warns=weights(6) + " is not the file its record describes")),
    Case("newest weights deleted", then(written(), remove(weights(6))),
         Resumed(5, 1, 1, warns=f"its weights file {weights(6)} is missing")),
    Case("newest weights with a flipped byte", then(written(), flip_byte(weights(6))),
         Resumed(5, 1, 1, warns=weights(6) + " is not the file its record describes")),
    Case("newest weights not HDF5 at all", then(written(), overwrite(weights(6), "x" * 99)),
         Resumed(5, 1, 1, warns=weights(6) + " is not the file its record describes")),
    Case("record of step 6 beside the weights of step 5",
         then(written(), copy(weights(5), weights(6))),
         Resumed(5, 1, 1, warns=weights(6) + " is not the file its record describes")),
    Case("record of step 6 describing the weights of step 5",
         then(written(), forge(6, 5)),
         Resumed(5, 1, 1, warns=weights(6) + " holds step 5, its record says step 6")),
    Case("newest record truncated", then(written(), truncate(record(6))),
         Resumed(5, 1, 1, warns=record(6) + ": its record cannot be read")),
    Case("newest record empty", then(written(), truncate(record(6), 0)),
         Resumed(5, 1, 1, warns=record(6) + ": its record cannot be read")),
    Case("newest record not a record", then(written(), overwrite(record(6), "[1, 2]")),
         Resumed(5, 1, 1, warns="not a backup record")),
    # nothing usable: a clear error naming each file and why
    Case("both backups truncated", then(written(), truncate(weights(5)), truncate(weights(6))),
         Refused(f"no usable backup.*{weights(6)} is not the file.*{weights(5)} is not the file"
                 ".*Delete the folder")),
    Case("both records unreadable",
         then(written(), overwrite(record(5), "{"), overwrite(record(6), "")),
         Refused("no usable backup.*cannot be read.*cannot be read")),
    Case("Keras' layout truncated", then(keras_layout, truncate("latest.weights.h5")),
         Refused("no usable backup.*latest.weights.h5 does not load"),
         callback={"save_freq": "epoch"}),
    Case("weights of another architecture", written(),
         Refused("no usable backup.*does not load"), model={"units": 3}),
    Case("an unbuilt model", written(), Refused("build Sequential before fit()"),
         model={"built": False}),
    # never a non-finite state
    Case("NaN loss at a backup: skipped", written(losses={6: float("nan")}),
         Resumed(5, 1, 1, warns="no backup at step 6: the logged 'loss' (nan) is not finite")),
    Case("Inf loss at a backup: skipped", written(losses={6: float("inf")}),
         Resumed(5, 1, 1, warns="no backup at step 6: the logged 'loss' (inf) is not finite")),
    Case("NaN weights at a backup: skipped", written(nan_kernel_at=(6,)),
         Resumed(5, 1, 1, warns="no backup at step 6: the variable '")),
    Case("NaN at an epoch-end backup: skipped",
         written(8, save_freq="epoch", losses={8: float("nan")}),
         Resumed(4, 1, 0, warns="no backup at step 8: the logged 'loss' (nan)"),
         callback={"save_freq": "epoch"}),
    Case("NaN at the first backup: nothing to resume", written(1, losses={1: float("nan")}),
         Fresh()),
    # a backup of another run is refused, naming the difference
    Case("another batch size", written(identity=ID),
         Refused("batch_size=256 there, 128 here.*mix two runs"),
         callback={"identity": {**ID, "batch_size": 128}}),
    Case("another method", written(identity=ID),
         Refused("method='simclr' there, 'moco' here"),
         callback={"identity": {**ID, "method": "moco"}}),
    Case("two differences, both named", written(identity=ID),
         Refused("batch_size=256 there, 64 here; method='simclr' there, 'byol' here"),
         callback={"identity": {"method": "byol", "batch_size": 64}}),
    Case("another model class", written(), Refused("model='Sequential' there, 'Functional' here"),
         model={"functional": True}),
    Case("another number of steps per epoch", written(),
         Refused("steps_per_epoch=4 there, 5 here"), steps=5),
    Case("the same identity resumes", written(identity=ID), Resumed(6, 1, 2),
         callback={"identity": dict(ID)}),
    Case("a setting only one side names is not compared", written(identity=ID),
         Resumed(6, 1, 2), callback={"identity": {**ID, "knn_k": 20}}),
    Case("a tuple setting equals its JSON list", written(identity={"crop_scale": (0.2, 1.0)}),
         Resumed(6, 1, 2), callback={"identity": {"crop_scale": [0.2, 1.0]}}),
    Case("another identity behind a damaged newest record",
         then(written(identity=ID), overwrite(record(6), "{")),
         Refused("batch_size=256 there, 128 here"),
         callback={"identity": {**ID, "batch_size": 128}}),
    Case("check() refuses before any work", written(identity=ID),
         Refused(f"{record(6)}' was written by a run with other settings.*batch_size"),
         callback={"identity": {**ID, "batch_size": 128}}, check_only=True),
    Case("check() passes the same run", written(identity=ID), Checked(6),
         callback={"identity": ID}, check_only=True),
    Case("a mid-epoch backup needs the same steps_per_execution", written(5),
         Refused("after batch 1, not a multiple of steps_per_execution=2"),
         model={"steps_per_execution": 2}),
    # the callback's arguments
    Case("keep=0", nothing, Refused("`keep` must be a positive integer, got keep=0"),
         callback={"keep": 0}),
    Case("save_freq=0", nothing, Refused("`save_freq` must be 'epoch' or a positive number"),
         callback={"save_freq": 0}),
    Case("save_freq='step'", nothing, Refused("Invalid value for argument `save_freq`"),
         callback={"save_freq": "step"}),
    Case("identity not a dict", nothing, Refused("`identity` must be a dict"),
         callback={"identity": "simclr"}),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_backup_fault(case, tmp_path):
    folder = str(tmp_path / "backup")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case.setup(folder)
        kwargs = {"save_freq": 1, **case.callback}
        expected = case.expected
        if isinstance(expected, Refused):
            with pytest.raises(ValueError, match=expected.match):
                resume(folder, kwargs, case)
            return
        model, backup = resume(folder, kwargs, case)
    if isinstance(expected, Checked):
        assert backup["iterations"] == expected.step and ID.items() <= backup["identity"].items()
        return
    step = int(model.optimizer.iterations.numpy())
    kernel = model.layers[-1].kernel.numpy()
    if isinstance(expected, Fresh):
        assert step == 0 and backup.restored is None
        return
    assert (step, float(kernel.flat[0]), model._initial_epoch, model.resume_skip_batches) == (
        expected.step, expected.step, expected.epoch, expected.skip)
    assert np.all(kernel == expected.step)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if expected.warns is None:
        assert messages == []
    else:
        assert len(messages) == 1 and expected.warns in messages[0], messages
    assert backup.restored.get("iterations", expected.step) == expected.step
    left = sorted(int(name[7:-5]) for name in os.listdir(folder)
                  if name.startswith("backup-") and name.endswith(".json"))
    if expected.records is not None:
        assert tuple(left) == expected.records
    assert not [name for name in os.listdir(folder) if name.startswith(".tmp-")]
    assert max(left or [expected.step]) == expected.step  # damaged newer ones are deleted


def resume(folder, kwargs, case):
    backup = BackupAndRestore(folder, **kwargs)
    if case.check_only:
        return None, backup.check()
    model = make_model(**case.model)
    backup.set_model(model)
    backup.set_params({"epochs": 3, "steps": case.steps, "verbose": 0})
    backup.on_train_begin()
    return model, backup


def test_a_resumed_run_writes_after_its_backup_and_prunes_the_damaged_ones(tmp_path):
    """After a fallback (newest damaged), the next backups follow the restored step and the
    folder keeps the newest two."""
    folder = str(tmp_path)
    written()(folder)
    truncate(weights(6))(folder)
    model = make_model()
    backup = BackupAndRestore(folder, save_freq=1)
    with pytest.warns(RuntimeWarning, match="damaged"):
        train(backup, model, 0)
    for step in (6, 7):  # epoch 2, batches 2 and 3 again
        model.optimizer.iterations.assign(step)
        backup.on_train_batch_end(step - 1 - STEPS, {"loss": 1.0})
    assert sorted(n for n in os.listdir(folder)) == [record(6), weights(6), record(7), weights(7)]
    assert json.load(open(os.path.join(folder, record(7))))["batch"] == 2


def _cli(*args):
    """``(exit code, stderr, stdout)`` of the CLI run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run([str(arg) for arg in args])
    return code, err.getvalue(), out.getvalue()


@pytest.mark.parametrize("flags,difference", [
    (["--batch-size", "32"], "batch_size=64 there, 32 here"),
    (["--batch-size", "64", "--method", "byol"], "method='simclr' there, 'byol' here"),
    (["--batch-size", "64", "--width", "8"], "width=4 there, 8 here"),
])
def test_the_cli_refuses_to_resume_another_run_before_any_work(flags, difference, tmp_path):
    folder = str(tmp_path / "backup")
    backup = BackupAndRestore(folder, save_freq=1)
    _check_backups(PRESETS["quality"].replace(batch_size=64, width=4, train_subset=256), [backup])
    train(backup, make_model(), 2)
    code, err, _ = _cli("pretrain", "--width", "4", "--train-subset", "256", "--epochs", "2",
                     "--resume", folder, *flags)
    assert code == 2 and difference in err, err
    assert "Resume with the settings of the interrupted run" in err
    assert "Traceback" not in err and len(os.listdir(folder)) == 4  # nothing touched


def test_the_cli_keeps_its_backup_until_the_outputs_are_written(tmp_path):
    """``pretrain --resume DIR`` whose ``--save-model`` fails after training (its folder
    is missing, found only when saving) keeps DIR, with the finished state backed up
    (step 2 of 2; backups every 3 steps wrote none before); the rerun resumes it with
    no step left to train, saves, and only then deletes DIR."""
    folder, model_file = tmp_path / "backup", tmp_path / "models" / "simclr.keras"
    flags = ["pretrain", "--epochs", "1", "--batch-size", "32", "--width", "2",
             "--train-subset", "64", "--eval-train-subset", "32", "--eval-test-subset", "16",
             "--resume", folder, "--backup-steps", "3", "--save-model", model_file, "--json"]
    code, err, out = _cli(*flags)
    assert code == 2 and "models" in err, err
    assert "1 epoch in" in out and "view pairs/s" in out  # it trained
    assert sorted(os.listdir(folder)) == [record(2), weights(2)]

    os.makedirs(model_file.parent)
    code, err, out = _cli(*flags)
    assert code == 0, err
    assert "no step left to train: resumed the finished run's backup" in out
    assert json.loads(out.strip().splitlines()[-1])["pairs_per_s"] is None
    assert model_file.exists() and not folder.exists()
