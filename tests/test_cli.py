"""The command line end to end: pretrain, evaluate against random init, export."""
import contextlib
import io
import json
import os
import subprocess
import sys
import typing

import numpy as np
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
    for command in ("pretrain", "export", "evaluate", "embed", "views"):
        assert command in result.stdout, command
    result = _run_command("pretrain", "--epochs", "1", "--method", "nope", timeout=120)
    assert result.returncode == 2 and "invalid choice: 'nope'" in result.stderr


_NO_TENSORFLOW = """
import contextlib, io, json, sys
from keras_contrastive import cli
out = {}
for argv in (["--help"], ["pretrain", "--help"], ["views", "--help"], ["embed", "--help"],
             ["--version"],
             ["pretrain", "--print-config", "--method", "moco_v2", "--json"],
             ["export", "/no/such/model.keras", "--out", "/tmp/out"],
             ["evaluate", "/no/such/export"],
             ["embed", "/no/such/export", ".", "--out", "e.npz"],
             ["embed", "/no/such/export", ".", "--out", "e.xlsx"]):
    buffer, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(errors):
        try:
            code = cli.run(argv)
        except SystemExit as exit:
            code = exit.code
    out[" ".join(argv)] = [code, buffer.getvalue(), errors.getvalue()]
out["imported"] = sorted(m for m in ("tensorflow", "keras", "keras_contrastive.models")
                         if m in sys.modules)
print("RESULT " + json.dumps(out))
"""


def test_help_version_and_print_config_import_no_tensorflow():
    """``--help`` (top level and per command), ``--version`` and ``--print-config``
    answer without importing TensorFlow, Keras or the models: the methods come
    from the generated manifest (``_method_manifest.py``).  So do the refusals of a
    model that is not there and of an unknown ``--out`` format (they waited 6-10 s
    for TensorFlow to start)."""
    result = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out.pop("imported") == []
    refused = {
        "export /no/such/model.keras --out /tmp/out": "no saved model at '/no/such/model.keras'",
        "evaluate /no/such/export": "no export or .keras model at '/no/such/export'",
        "embed /no/such/export . --out e.npz": "no export or .keras model at '/no/such/export'",
        "embed /no/such/export . --out e.xlsx": "--out must end in .npz, .csv, .parquet"}
    for argv, message in refused.items():
        code, _, errors = out.pop(argv)
        assert code == 2 and message in errors, (argv, errors)
    assert all(code == 0 for code, *_ in out.values()), out
    assert "moco_v2" in out["pretrain --help"][1].split("--method {", 1)[1].split("}", 1)[0]
    settings = json.loads(out["pretrain --print-config --method moco_v2 --json"][1])
    assert settings["method"] == "moco_v2" and settings["optimizer_name"] == "sgd"


_QUIET = """
import numpy as np
import keras_contrastive  # first, as a user would
import tensorflow as tf
from keras_contrastive import views
augment = views.simclr_augment(28, channels=1, seed=0)
images = tf.data.Dataset.from_tensor_slices(np.zeros((64, 28, 28, 1), "uint8")).batch(32)
for _ in images.map(lambda x: augment(tf.cast(x, "float32") / 255.0)):
    pass
"""


def test_library_use_prints_no_tensorflow_cost_model_spam():
    """The views in ``tf.data`` (what every run traces) make grappler's cost model
    print "W ... Error in PredictCost() ... CropAndResize" at TensorFlow's default
    log level (this snippet does, with TF_CPP_MIN_LOG_LEVEL=0); importing
    keras_contrastive first sets the level to 2 where the user has not set it."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", _QUIET], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PredictCost" not in result.stderr, result.stderr[-2000:]


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
    assert not (tmp_path / "backup").exists()  # deleted once the outputs are written

    exported = _run("export", str(tmp_path / "simclr.keras"), "--out", str(export),
                    "--export-version", "2", "--include-projection", "--training-data",
                    "fashion_mnist[:256]", "--tflite", str(tmp_path / "simclr.tflite"))
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "SimCLR exported to" in exported.stdout
    # the .tflite file embeds real images as the SavedModel does
    from keras_contrastive.data import load_fashion_mnist_arrays
    from keras_contrastive.export import load_encoder
    from tests.conftest import tflite_embeddings

    x = load_fashion_mnist_arrays("test")[0][:32].astype("float32") / 255.0
    np.testing.assert_allclose(tflite_embeddings(tmp_path / "simclr.tflite", x),
                               load_encoder(export)(x), atol=1e-5)
    metadata = json.loads((export / "2" / "metadata.json").read_text())
    assert metadata["outputs"] == ["embedding", "projection"]
    again = _run("export", str(tmp_path / "simclr.keras"), "--out", str(export),
                 "--export-version", "2")
    assert again.returncode == 2 and "already exists" in again.stderr
    again = _run("export", str(tmp_path / "simclr.keras"), "--tflite",
                 str(tmp_path / "simclr.tflite"))
    assert again.returncode == 2 and "pass --overwrite" in again.stderr
    neither = _run("export", str(tmp_path / "simclr.keras"))
    assert neither.returncode == 2 and "give --out DIR" in neither.stderr

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


def write_photos(folder, sizes, classes=None, seed=0):
    """Real image files (PIL PNGs) of ``sizes`` in turn: directly in ``folder``, or
    spread over the class sub-folders ``classes``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index, (height, width) in enumerate(sizes):
        where = folder / classes[index % len(classes)] if classes else folder
        where.mkdir(parents=True, exist_ok=True)
        shade = 128 * (index % len(classes)) if classes else 0
        pixels = rng.integers(0, 96, (height, width, 3)) + shade
        Image.fromarray(pixels.astype(np.uint8)).save(where / f"{index:03d}.png")
    return folder


_TINY = ("--epochs", "1", "--batch-size", "8", "--backbone", "small_cnn", "--width", "2")


def test_pretrain_on_an_unlabelled_folder_evaluates_on_eval_dataset_and_hands_off(
        tmp_path, monkeypatch):
    """Photos without class sub-folders, pretrained at --image-size 24,32 (not
    square) and evaluated on --eval-dataset, a labelled folder without test/ (the
    run warns that the figures are on training images, naming it).  The saved
    model carries the run's data sets (folders given relative to the working
    directory, recorded as absolute paths), optimizer, learning rate, config and
    figures: ``export`` of it keeps them, and ``evaluate`` without --dataset, run
    from another directory, reads the data set from metadata.json and finds the
    run's figures again; a record naming a folder that is not there says to pass
    --dataset."""
    photos = write_photos(tmp_path / "photos", [(20, 28), (24, 32), (30, 36)] * 6)
    labelled = write_photos(tmp_path / "labelled", [(24, 32)] * 16, classes=("cat", "dog"))
    monkeypatch.chdir(tmp_path)
    result = _run("pretrain", "--dataset", "photos", "--eval-dataset", "labelled",
                  "--image-size", "24,32", "--knn-k", "4", *_TINY, "--learning-rate", "0.01",
                  "--save-model", tmp_path / "run.keras", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert ("warning: 'labelled' has no test/ folder: the evaluation figures are on "
            "its training images") in out
    assert "different sizes" not in out  # --image-size given: no median
    summary = json.loads(out.strip().splitlines()[-1])
    assert {"knn_acc", "linear_acc", "random_knn_acc"} <= set(summary)

    # `pretrain --export` writes the same record (export_pretrained: run_record)
    exported = _run("export", tmp_path / "run.keras", "--out", tmp_path / "export")
    assert exported.returncode == 0, exported.stderr[-3000:]
    metadata = json.loads((tmp_path / "export" / "1" / "metadata.json").read_text())
    assert metadata["input_shape"] == [24, 32, 3] and metadata["dataset"] == str(photos)
    assert metadata["eval_dataset"] == str(labelled) and metadata["class_names"] is None
    assert metadata["optimizer"]["name"] == "sgd" and metadata["optimizer"]["class"] == "SGD"
    assert metadata["optimizer"]["learning_rate"] == 0.01
    assert metadata["metrics"]["knn_acc"] == summary["knn_acc"]
    assert metadata["config"]["image_size"] == [24, 32]

    monkeypatch.chdir(tmp_path / "export")  # where "labelled" is not
    evaluated = _run("evaluate", tmp_path / "export", "--protocols", "knn", "--knn-k", "4",
                     "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert (f"evaluating on {str(labelled)!r}, the data set its metadata.json names"
            in evaluated.stdout)
    assert (f"warning: {str(labelled)!r} has no test/ folder: the evaluation figures are on "
            "its training images, not on held-out ones" in evaluated.stdout)
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert figures["knn_acc"] == pytest.approx(summary["knn_acc"], abs=1e-9)
    refused = _run("evaluate", tmp_path / "export", "--dataset", photos)
    assert refused.returncode == 2 and "has no labels" in refused.stderr
    assert "pass --dataset with a labelled folder" in refused.stderr
    # an export written before folders were recorded whole: the folder as typed
    metadata.update(dataset="labelled", eval_dataset="labelled")
    (tmp_path / "export" / "1" / "metadata.json").write_text(json.dumps(metadata))
    refused = _run("evaluate", tmp_path / "export", "--protocols", "knn")
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert ("'labelled' is the data set" in refused.stderr
            and "pass --dataset with its path" in refused.stderr), refused.stderr[-3000:]


@pytest.mark.parametrize("value, message", [
    ("0", "--image-size must be a positive int (a square) or H,W"),
    ("24,x", "got '24,x'"), ("1,2,3", "got '1,2,3'")])
def test_image_size_takes_one_int_or_h_w_and_refusals_name_the_flag(value, message):
    refused = _run("pretrain", "--image-size", value, "--print-config")
    assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    for given, shown in (("24,32", "[24, 32]"), ("24", "24"), ("24,24", "24")):
        printed = _run("pretrain", "--image-size", given, "--print-config", "--json")
        assert json.loads(printed.stdout)["image_size"] == json.loads(shown), given


def test_existing_export_is_refused_without_overwrite(tmp_path):
    (tmp_path / "enc" / "1").mkdir(parents=True)
    result = _run(
        "pretrain", "--epochs", "1", "--batch-size", "64", "--width", "4",
        "--train-subset", "128", "--eval-train-subset", "100", "--eval-test-subset", "50",
        "--export", str(tmp_path / "enc"),
    )
    assert result.returncode == 2
    assert (f"{tmp_path / 'enc' / '1'} already exists; pass --overwrite to replace it or "
            "--export-version N to write another version.") in result.stderr, result.stderr
    assert "overwrite=True" not in result.stderr  # the command's words, not the function's


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
        "pretrain", "--method", "moco_v2", "--epochs", "1", "--batch-size", "64",
        "--backbone", "small_cnn", "--width", "4",  # the views are the point, not the backbone
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
                   "--augment-on", "--logdir", "--save-model", "--backbone", "--knn-k",
                   "--print-config", "--export-version"):
        assert option in result.stdout, option
    for command, options in {
        "export": ("--out", "--tflite", "--export-version", "--overwrite",
                   "--include-projection", "--training-data"),
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
    for command in ("pretrain", "export", "evaluate", "embed", "views"):
        assert command in result.stdout, command


def test_the_cli_lists_the_evaluation_protocols_the_library_runs():
    from keras_contrastive import cli
    from keras_contrastive.evaluation import PROTOCOLS

    assert cli.EVALUATION_PROTOCOLS == PROTOCOLS


def _options(parser):
    """``{command: [actions]}`` of the parser's subcommands (and ``""``: the top level)."""
    import argparse

    found = {"": parser._actions}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update({name: sub._actions for name, sub in action.choices.items()})
    return found


def test_every_option_shows_its_default():
    """Each option that takes a value says its default in ``--help`` (switches are
    off by default; required options have none); a config flag shows the default
    preset's value."""
    import argparse

    missing = []
    for command, actions in _options(cli._parser()).items():
        parser = argparse.ArgumentParser(formatter_class=cli._HelpFormatter)
        formatter = parser._get_formatter()
        for action in actions:
            if (not action.option_strings or action.required or action.nargs == 0
                    or action.help == argparse.SUPPRESS):
                continue
            text = formatter._get_help_string(action) % {"default": action.default}
            if "default" not in text and "deprecated" not in text:
                missing.append((command, action.option_strings[0]))
    assert missing == []
    help_text = " ".join(_run("pretrain", "--help").stdout.split())
    assert "views per step). (default: 256)" in help_text
    assert "--knn-k KNN_K kNN protocol: neighbours. (default: 200)" in help_text


def test_help_describes_the_presets_and_methods():
    from keras_contrastive.pretraining.config import PRESET_NOTES
    from keras_contrastive.pretraining.config import known_methods

    help_text = " ".join(_run("pretrain", "--help").stdout.split())
    for name, note in PRESET_NOTES.items():
        assert f"{name} {note}" in help_text, name
    assert "sets --epochs 3 --width 8 --eval-train-subset 10000" in help_text
    for method in known_methods():
        assert f"{method.name} {method.description[:40]}" in help_text, method.name


def test_print_config_prints_the_resolved_run_and_trains_nothing():
    from keras_contrastive.pretraining import PRESETS

    result = _run("pretrain", "--preset", "demo", "--method", "byol", "--batch-size", "512",
                  "--backbone", "vit_tiny", "--knn-k", "20", "--print-config", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    config = PRESETS["demo"].replace(method="byol", batch_size=512, backbone="vit_tiny",
                                     knn_k=20)
    assert {k: printed[k] for k in ("epochs", "width", "backbone", "knn_k")} == {
        "epochs": 3, "width": 8, "backbone": "vit_tiny", "knn_k": 20}
    # BYOL's protocol optimizer, scaled by the batch: 0.5 * 512 / 256
    assert printed["peak_learning_rate"] == config.peak_learning_rate == 1.0
    assert printed["effective_weight_decay"] == 1e-5 and printed["effective_warmup_epochs"] == 1
    text = _run("pretrain", "--print-config", "--epochs", "2").stdout
    assert "epochs                  2" in text and "peak_learning_rate      0.06" in text
    refused = _run("pretrain", "--print-config", "--backbone", "resnet34")
    assert refused.returncode == 2 and "--backbone takes resnet18, resnet50" in refused.stderr


def test_version_prints_the_package_version_and_export_version_keeps_the_old_spelling():
    from keras_contrastive import __version__

    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"keras-contrastive {__version__}"
    parser = cli._parser()
    args = parser.parse_args(["export", "m.keras", "--out", "x", "--export-version", "3"])
    assert args.export_version == 3
    assert parser.parse_args(["pretrain"]).export_version == 1
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        args = parser.parse_args(["pretrain", "--version", "2"])
    assert args.export_version == 2 and "use --export-version 2" in err.getvalue()


def test_the_cli_offers_the_backbones_the_builders_build():
    from keras_contrastive.pretraining import BACKBONES
    from keras_contrastive.pretraining.config import BACKBONE_NAMES

    assert BACKBONE_NAMES == tuple(BACKBONES)
