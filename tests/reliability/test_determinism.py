"""Same seed, same run; resume exact after the first epoch (issue 30, "Faults").

The table: the data order of each epoch is a pure function of (seed, epoch),
restored on resume (arrays, streamed folders, labels, NPID's indices); views
keyed on (seed, epoch, batch) in deterministic mode; the epoch a backup resumes in; the
arguments and settings refused, each with an error naming the problem.  Then
two in-process ``pretrain`` runs with the same seed in deterministic mode
(streamed folder: files and buffer shuffled each epoch, random views) end with
bit-identical weights, and a deterministic CLI run killed inside a backup
write in epoch 2 resumes bit-identical to the uninterrupted one
(``benchmarks/kill_matrix.py`` with one kill; it kills at 20 random moments
when run by hand).  ``tests/test_kill_resume.py`` kills training processes of
``make_views`` pipelines.
"""
import dataclasses
import hashlib
import importlib.util
import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from keras_contrastive import cli
from keras_contrastive.callbacks import BackupAndRestore
from keras_contrastive.pretraining import PRESETS, open_splits, pretrain
from keras_contrastive.views import RandomApply, make_views
from keras_contrastive.views.pipeline import epoch_seed
from tests.test_pretraining_data import write_image_folder

IMAGES = np.arange(24, dtype=np.uint8).reshape(24, 1, 1, 1) * np.ones((1, 4, 4, 1), np.uint8)


def identity(images):
    return images


def ids_of(batch):
    """The images' numbers (each image is filled with its own number)."""
    return np.rint(batch.numpy()[:, 0, 0, 0] * 255).astype(int).tolist()


def epochs_of(views, steps):
    """``[[ids of epoch e] ...]`` of a multi-epoch view dataset, by view 0."""
    ids = [i for batch in views for i in ids_of(batch["global"][0])]
    return [ids[k:k + steps * 6] for k in range(0, len(ids), steps * 6)]


def order(initial_epoch=0, epochs=3, seed=0, source=None, **kwargs):
    source = source if source is not None else tf.data.Dataset.from_tensor_slices(IMAGES)
    return epochs_of(make_views(source, identity, batch_size=6, seed=seed, epochs=epochs,
                                initial_epoch=initial_epoch, shuffle_buffer=24, **kwargs), 4)


def stream_orders(tmp, epochs, seed=0):
    """The orders (by pixel sums) of the given epochs of a streamed folder split of 24
    PNGs, labels included."""
    folder = write_image_folder(os.path.join(tmp, "images"), 24, size=4)
    train, _ = open_splits(folder)
    images, options = train.training_images(seed=seed, labels=True)
    assert options == {"cache": False, "shuffle_buffer": 0}
    return [[int(np.sum(x, dtype=np.int64)) for x, _ in images(tf.constant(e, tf.int64))]
            for e in epochs]


@dataclasses.dataclass
class Case:
    id: str
    check: object  # () -> None, raising on the wrong outcome
    error: tuple = None  # (exception type, message fragment) the check must raise


def _views_of_epoch_1(initial_epoch, deterministic):
    """Epoch 2's views of a pipeline starting at epoch ``initial_epoch + 1``: Keras
    preprocessing layers and this package's ``RandomApply`` (nested generators)."""
    augment = keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=1),
        RandomApply(keras.layers.RandomBrightness(0.5, value_range=(0, 1), seed=2), 0.5,
                    seed=3)])
    views = make_views(tf.data.Dataset.from_tensor_slices(IMAGES * 9), augment, batch_size=6,
                       seed=0, epochs=2, initial_epoch=initial_epoch,
                       deterministic=deterministic)
    return [batch["global"][1].numpy() for batch in views][-4:]


def _same_views(deterministic):
    first, second = _views_of_epoch_1(0, deterministic), _views_of_epoch_1(1, deterministic)
    return all(np.array_equal(a, b) for a, b in zip(first, second))


def _check(condition, what):
    if not condition:
        raise AssertionError(what)


def _labelled_epochs():
    labels = np.arange(24) % 5
    source = tf.data.Dataset.from_tensor_slices((IMAGES, labels))
    views = make_views(source, identity, batch_size=6, seed=0, epochs=2, labels=True,
                       shuffle_buffer=24)
    for batch in views:
        _check([i % 5 for i in ids_of(batch["global"][0])] == batch["labels"].numpy().tolist(),
               "labels follow their images")


def _indexed_epochs():
    """NPID's indices with epochs: each view's index is its image's position in every
    epoch, and a run resumed in epoch 2 sees epoch 2's order again."""
    def epochs(initial_epoch):
        views = make_views(tf.data.Dataset.from_tensor_slices(IMAGES), identity, batch_size=6,
                           seed=0, epochs=3, initial_epoch=initial_epoch, indices=True,
                           shuffle_buffer=24)
        batches = [(ids_of(batch["global"][0]), batch["indices"].numpy().tolist())
                   for batch in views]
        _check(all(ids == indices for ids, indices in batches), "indices name their images")
        return [ids for ids, _ in batches]

    _check(epochs(1) == epochs(0)[4:], "epochs 2 and 3 restored")


def write_backup(folder, step, epoch, batch, identity=None, damage=False):
    """A backup's two files as BackupAndRestore writes them (the weights are any bytes:
    ``resume_epoch`` checks them, it does not load them)."""
    os.makedirs(folder, exist_ok=True)
    name = f"backup-{step:012d}"
    data = bytes(range(256)) * (step + 1)
    with open(os.path.join(folder, name + ".weights.h5"), "wb") as f:
        f.write(data[:-1] if damage else data)
    with open(os.path.join(folder, name + ".json"), "w") as f:
        json.dump({"epoch": epoch, "batch": batch, "iterations": step, "bytes": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(),
                   "identity": identity or {}}, f)
    return folder


def _resume_epoch(backups, steps=4, identity=None):
    def check(tmp):
        folder = os.path.join(tmp, "backup")
        for backup in backups:
            write_backup(folder, *backup)
        return BackupAndRestore(folder, save_freq=2, identity=identity).resume_epoch(steps)
    return check


def _cli_exit(*flags):
    def check(tmp):
        code = cli.run(["pretrain", *flags])
        _check(code == 2, f"exit code {code}")
        return code
    return check


CASES = [
    # data order: a pure function of (seed, epoch)
    Case("resumed_in_epoch_2_sees_epoch_2s_order",
         lambda tmp: _check(order(1) == order(0)[1:], "epochs 2 and 3 restored")),
    Case("resumed_in_epoch_3_sees_epoch_3s_order",
         lambda tmp: _check(order(2) == order(0)[2:], "epoch 3 restored")),
    Case("each_epoch_is_a_permutation_nothing_twice_nothing_left_out",
         lambda tmp: _check(all(sorted(e) == list(range(24)) for e in order(0)), "permutation")),
    Case("epochs_differ_in_order",
         lambda tmp: _check(len({tuple(e) for e in order(0)}) == 3, "3 distinct orders")),
    Case("another_seed_another_order",
         lambda tmp: _check(order(0, seed=1) != order(0, seed=0), "seed changes the order")),
    Case("raising_epochs_keeps_the_first_epochs_order",
         lambda tmp: _check(order(0, epochs=5)[:3] == order(0, epochs=3), "longer run")),
    Case("same_order_with_or_without_a_global_seed",
         lambda tmp: _check((tf.random.set_seed(5), order(1))[1] == (tf.random.set_seed(0),
                                                                     order(1))[1], "global")),
    Case("cardinality_counts_the_epochs_left",
         lambda tmp: _check(int(make_views(tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                           batch_size=6, epochs=3, initial_epoch=1)
                                .cardinality()) == 8, "8 batches")),
    Case("labels_follow_their_images_across_epochs", lambda tmp: _labelled_epochs()),
    Case("indices_name_their_images_across_epochs_and_are_restored",
         lambda tmp: _indexed_epochs()),
    Case("function_of_the_epoch_is_called_per_epoch",
         lambda tmp: _check(order(1, source=lambda e: tf.data.Dataset.from_tensor_slices(
             IMAGES).skip(e * 0), cache=False) == order(0)[1:], "function source")),
    Case("streamed_folder_epoch_order_is_reproducible",
         lambda tmp: _check((lambda o: o[0] == o[1])(stream_orders(tmp, (1, 1))), "epoch 2")),
    Case("streamed_folder_epochs_differ_and_are_permutations",
         lambda tmp: _check((lambda o: o[0] != o[1] and sorted(o[0]) == sorted(o[1]))(
             stream_orders(tmp, (0, 1))), "two orders of the same images")),
    # views: keyed on (seed, epoch, batch) in deterministic mode
    Case("deterministic_views_are_restored_on_resume",
         lambda tmp: _check(_same_views(True), "keyed views equal")),
    Case("default_views_are_fresh_random_draws",
         lambda tmp: _check(not _same_views(False), "the default draws anew")),
    Case("epoch_seed_is_a_pure_function",
         lambda tmp: _check(int(epoch_seed(3, 2)) == int(epoch_seed(3, 2)) and len(
             {int(epoch_seed(s, e, k)) for s in (0, 1) for e in (0, 1) for k in (0, 1)}) == 8,
             "8 distinct seeds")),
    # the epoch a backup resumes in
    Case("no_backup_resumes_at_epoch_1", lambda tmp: _check(_resume_epoch([])(tmp) == 0, "")),
    Case("mid_epoch_backup_resumes_its_epoch",
         lambda tmp: _check(_resume_epoch([(6, 1, 1)])(tmp) == 1, "epoch 2")),
    Case("backup_after_an_epochs_last_batch_resumes_the_next",
         lambda tmp: _check(_resume_epoch([(8, 1, 3)])(tmp) == 2, "epoch 3")),
    Case("epoch_end_backup_resumes_the_epoch_it_records",  # Keras records the next epoch
         lambda tmp: _check(_resume_epoch([(4, 1, -1)])(tmp) == 1, "epoch 2")),
    Case("damaged_newest_backup_falls_back_to_the_older_ones_epoch",
         lambda tmp: _check(_resume_epoch([(4, 0, 3), (6, 1, 1, None, True)])(tmp) == 1, "")),
    Case("backup_of_another_run_is_refused",
         _resume_epoch([(6, 1, 1, {"batch_size": 64})], identity={"batch_size": 32}),
         (ValueError, "batch_size=64 there, 32 here")),
    # refused arguments and settings
    Case("epochs_zero", lambda tmp: make_views(tf.data.Dataset.from_tensor_slices(IMAGES),
                                               identity, batch_size=6, epochs=0),
         (ValueError, "`epochs` must be an integer above `initial_epoch`")),
    Case("initial_epoch_at_epochs",
         lambda tmp: make_views(tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                batch_size=6, epochs=2, initial_epoch=2),
         (ValueError, "initial_epoch=2")),
    Case("negative_initial_epoch",
         lambda tmp: make_views(tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                batch_size=6, epochs=2, initial_epoch=-1),
         (ValueError, "initial_epoch=-1")),
    Case("epochs_as_a_string",
         lambda tmp: make_views(tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                batch_size=6, epochs="3"),
         (ValueError, "epochs='3'")),
    Case("function_of_the_epoch_without_epochs",
         lambda tmp: make_views(lambda e: tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                batch_size=6),
         (ValueError, "`dataset` must be a tf.data.Dataset")),
    Case("function_of_the_epoch_with_cache",
         lambda tmp: make_views(lambda e: tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                batch_size=6, epochs=2),
         (ValueError, "a function of the epoch takes cache=False")),
    Case("function_of_the_epoch_with_indices",
         lambda tmp: make_views(lambda e: tf.data.Dataset.from_tensor_slices(IMAGES), identity,
                                batch_size=6, epochs=2, cache=False, indices=True),
         (ValueError, "an image's position must not change between epochs")),
    Case("deterministic_with_views_on_the_device",
         lambda tmp: pretrain(PRESETS["quality"].replace(deterministic=True, augment_on="device"),
                              verbose=0),
         (ValueError, "needs augment_on='data'")),
    Case("cli_deterministic_with_views_on_the_device",
         _cli_exit("--deterministic", "--augment-on", "device", "--epochs", "1")),
    Case("cli_flag_sets_the_config_field",
         lambda tmp: _check(cli._parser().parse_args(["pretrain", "--deterministic"])
                            .deterministic is True, "--deterministic")),
    Case("cli_default_is_not_deterministic",
         lambda tmp: _check(PRESETS["quality"].deterministic is False and cli._parser()
                            .parse_args(["pretrain"]).deterministic is None, "default off")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_determinism_case(case, tmp_path, capsys):
    if case.error:
        with pytest.raises(case.error[0], match=re.escape(case.error[1])):
            case.check(str(tmp_path))
    else:
        case.check(str(tmp_path))
    if case.id.startswith("cli_deterministic"):
        assert "--augment-on data" in capsys.readouterr().err


def _weights(config, callbacks=()):
    keras.backend.clear_session(free_memory=False)
    result = pretrain(config, callbacks=list(callbacks), verbose=0, evaluate_random_init=False,
                      log=lambda *a: None, evaluator=lambda *a: {})
    return [v.numpy() for v in result.model.variables + result.model.optimizer.variables]


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory):
    """A deterministic 2-epoch SimCLR run of 4 steps an epoch on a streamed folder of
    32 PNGs (files and a buffer shuffled each epoch, random views), and its weights."""
    folder = write_image_folder(tmp_path_factory.mktemp("data") / "images", 32, size=16)
    config = PRESETS["quality"].replace(dataset=folder, image_size=16, epochs=2, batch_size=8,
                                        width=2, deterministic=True)
    return config, _weights(config)


def test_the_same_seed_twice_in_deterministic_mode_ends_bit_identical(streamed_run):
    config, expected = streamed_run
    got = _weights(config)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    assert not tf_config.is_op_determinism_enabled()  # as it was before the run


def test_the_cli_killed_inside_a_backup_write_in_epoch_2_resumes_bit_identical(tmp_path):
    """benchmarks/kill_matrix.py with one kill: a deterministic 2-epoch CLI run of 4 steps
    an epoch, SIGKILLed inside the backup write of step 6 (epoch 2), resumes from step 5
    and ends with the reference run's weights, bit for bit (3 processes)."""
    spec = importlib.util.spec_from_file_location("kill_matrix", os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        "benchmarks", "kill_matrix.py"))
    kill_matrix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kill_matrix)
    log = tmp_path / "log.json"
    code = kill_matrix.main(["--kills", "1", "--at-step", "6", "--backup-steps", "1",
                             "--train-subset", "128", "--log", str(log)])
    result = json.loads(log.read_text())
    assert code == 0, result["failures"]
    killed, resumed = result["processes"]
    assert killed["killed"] and killed["inside_write"] and killed["backups_after"] == [4, 5]
    assert killed["kind"] == "write" and killed["step"] == 6 and killed["resumes_from"] == 5
    assert resumed["exit_code"] == 0 and resumed["identical"]
