"""The command line end to end: pretrain, evaluate against random init, export."""
import contextlib
import io
import json
import os
import subprocess
import sys
import typing

import pytest

from keras_contrastive import cli


class _Result(typing.NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def _run(*args):
    """``keras-contrastive ARGS``, run in this process through the command's entry point
    (``cli.run``) with its output captured; ``test_the_command_runs_as_a_command`` runs the
    installed entry itself in a subprocess once."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.run([str(arg) for arg in args])
        except SystemExit as exit:  # argparse: --help (0) and bad arguments (2)
            code = exit.code
    return _Result(code, out.getvalue(), err.getvalue())


def _run_command(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "keras_contrastive", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def test_the_command_runs_as_a_command(tmp_path):
    """``python -m keras_contrastive``: the help and a bad argument's exit code 2."""
    result = _run_command("--help", timeout=120)
    assert result.returncode == 0
    for command in ("pretrain", "export", "evaluate", "views"):
        assert command in result.stdout, command
    result = _run_command("pretrain", "--epochs", "1", "--method", "nope", timeout=120)
    assert result.returncode == 2 and "invalid choice: 'nope'" in result.stderr


def summary_tags(logdir):
    """{run: tags} of the TensorBoard event files under ``logdir``."""
    import glob

    import tensorflow as tf

    tags = {}
    for path in glob.glob(os.path.join(str(logdir), "**", "events.out.tfevents.*"),
                          recursive=True):
        run = os.path.relpath(os.path.dirname(path), str(logdir))
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.setdefault(run, set()).update(value.tag for value in event.summary.value)
    return tags


def test_pretrain_prints_summary_exports_saves_and_the_export_command_reads_the_save(tmp_path):
    export = tmp_path / "simclr_tiny"
    result = _run(
        "pretrain", "--method", "simclr", "--dataset", "fashion_mnist", "--epochs", "1",
        "--batch-size", "64", "--width", "4", "--train-subset", "256",
        "--eval-train-subset", "300", "--eval-test-subset", "100",
        "--export", str(export), "--json", "--save-model", str(tmp_path / "simclr.keras"),
        "--resume", str(tmp_path / "backup"), "--backup-steps", "2",
        "--logdir", str(tmp_path / "tb"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    tags = summary_tags(tmp_path / "tb")
    # scalars: loss and health per epoch (and per 10 steps: this run has 4), the kNN
    # monitor's accuracy per epoch; the views as images
    assert {"epoch_loss", "epoch_embedding_std"} <= tags["train"], tags
    assert "epoch_knn_acc" in tags["validation"], tags
    assert {"global_0", "global_1"} <= tags["views"], tags
    out = result.stdout
    assert "random init" in out and "pretrained" in out
    assert "4/4" in out  # Keras progress bar (256 images / batch 64)
    summary = json.loads(out.strip().splitlines()[-1])
    assert {"method", "epochs", "pairs_per_s", "knn_acc", "linear_acc",
            "random_knn_acc", "random_linear_acc"} <= set(summary)
    assert 0.0 <= summary["knn_acc"] <= 1.0
    assert (export / "1" / "saved_model.pb").exists()
    metadata = json.loads((export / "1" / "metadata.json").read_text())
    assert metadata["method"] == "SimCLR" and metadata["training_data"] == "fashion_mnist[:256]"
    assert metadata["metrics"]["knn_acc"] == summary["knn_acc"]
    assert metadata["config"]["width"] == 4
    assert not (tmp_path / "backup").exists()  # the backup is deleted when training ends

    exported = _run("export", str(tmp_path / "simclr.keras"), "--out", str(export), "--version",
                    "2", "--include-projection", "--training-data", "fashion_mnist[:256]")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "SimCLR exported to" in exported.stdout
    metadata = json.loads((export / "2" / "metadata.json").read_text())
    assert metadata["outputs"] == ["embedding", "projection"]
    again = _run("export", str(tmp_path / "simclr.keras"), "--out", str(export), "--version", "2")
    assert again.returncode == 2 and "already exists" in again.stderr

    # the exported encoder, evaluated by the CLI on the same images, gives the same figures
    evaluated = _run("evaluate", str(export), "--train-subset", "300", "--test-subset", "100",
                     "--protocols", "knn,linear,random_crop", "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    for name in ("knn_acc", "knn_top5_acc", "linear_acc"):
        assert figures[name] == pytest.approx(summary[name], abs=1e-9), name
    assert figures["knn_top5_acc"] >= figures["knn_acc"]
    assert 0 <= figures["random_crop_acc"] <= 1 and "center_crop_acc" in figures

    # the saved .keras model: the SGD probe, fine-tuning, and CAMs (which need its feature map)
    cams = tmp_path / "cams.png"
    evaluated = _run("evaluate", str(tmp_path / "simclr.keras"), "--train-subset", "300",
                     "--test-subset", "100", "--protocols", "cam,linear_sgd,finetune",
                     "--epochs", "1", "--label-fraction", "0.5", "--cam-out", str(cams), "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert {"linear_acc", "linear_sgd_acc", "finetune_0.5_acc"} <= set(figures), figures
    assert cams.exists() and cams.stat().st_size > 10_000
    refused = _run("evaluate", str(export), "--protocols", "cam")
    assert refused.returncode == 2 and "no feature map" in refused.stderr, refused.stderr[-2000:]


def test_existing_export_is_refused_without_overwrite(tmp_path):
    (tmp_path / "enc" / "1").mkdir(parents=True)
    result = _run(
        "pretrain", "--epochs", "1", "--batch-size", "64", "--width", "4",
        "--train-subset", "128", "--eval-train-subset", "100", "--eval-test-subset", "50",
        "--export", str(tmp_path / "enc"),
    )
    assert result.returncode == 2
    assert "exists" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--method", "nope"], "invalid choice: 'nope'"),
    (["--dataset", "/no/such/folder_or_tfds_name"], "no such folder: '/no/such/folder_or_tfds_name'"),
    (["--dataset", "./photos"], "no such folder: './photos'"),
    (["--dataset", "fashion-mnist"], "unknown data set 'fashion-mnist': did you mean 'fashion_mnist'?"),
    (["--dataset", "Fashion MNIST"], "did you mean 'fashion_mnist'?"),
    (["--dataset", os.path.abspath(__file__)], "is a file; give a folder of images"),
    (["--backup-steps", "0", "--resume", "/tmp/x"], "--backup-steps must be an integer >= 1"),
    (["--save-model", "model.h5"], "--save-model must name a .keras file"),
])
def test_bad_arguments_exit_with_a_message(args, message):
    result = _run("pretrain", "--epochs", "1", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_pretrain_with_constrained_multi_crop_and_a_picture_of_the_views(tmp_path):
    picture = tmp_path / "views.png"
    result = _run(
        "pretrain", "--method", "moco_v2", "--epochs", "1", "--batch-size", "64", "--width", "4",
        "--train-subset", "256", "--eval-train-subset", "300", "--eval-test-subset", "100",
        "--local-crops", "2", "--min-overlap", "0.2", "--stronger", "--plot-views", str(picture),
        "--augment-on", "device",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert picture.exists() and picture.stat().st_size > 10_000
    assert "pretrained" in result.stdout


def test_views_command_writes_a_picture(tmp_path):
    picture = tmp_path / "views.png"
    result = _run("views", "--out", str(picture), "--local-crops", "2", "--min-overlap", "0.2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert picture.exists() and picture.stat().st_size > 10_000


def test_evaluate_refuses_unknown_protocols(tmp_path):
    result = _run("evaluate", str(tmp_path), "--protocols", "knn,segmentation")
    assert result.returncode == 2 and (
        "--protocols takes knn, linear, linear_sgd, finetune, random_crop, cam" in result.stderr)


def test_export_of_a_missing_model_exits_with_a_message(tmp_path):
    result = _run("export", str(tmp_path / "none.keras"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no saved model at" in result.stderr


def test_help_lists_the_view_options():
    result = _run("pretrain", "--help")
    assert result.returncode == 0
    for option in ("--local-crops", "--min-overlap", "--max-iou", "--stronger", "--plot-views",
                   "--method", "--preset", "--export", "--resume", "--backup-steps",
                   "--augment-on", "--logdir",
                   "--save-model"):
        assert option in result.stdout, option
    for command, options in {
        "export": ("--out", "--version", "--overwrite", "--include-projection",
                   "--training-data"),
        "evaluate": ("--dataset", "--protocols", "--train-subset", "--test-subset", "--knn-k",
                     "--json", "--label-fraction", "--epochs", "--cam-out", "linear_sgd",
                     "finetune", "cam"),
        "views": ("--out", "--preset", "--local-crops", "--min-overlap", "--max-iou",
                  "--stronger"),
    }.items():
        result = _run(command, "--help")
        assert result.returncode == 0
        for option in options:
            assert option in result.stdout, (command, option)
    result = _run("--help")
    assert result.returncode == 0
    for command in ("pretrain", "export", "evaluate", "views"):
        assert command in result.stdout, command


def test_the_cli_lists_the_evaluation_protocols_the_library_runs():
    from keras_contrastive import cli
    from keras_contrastive.evaluation import PROTOCOLS

    assert cli.EVALUATION_PROTOCOLS == PROTOCOLS
