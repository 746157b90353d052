"""Bad-input matrix, hyper-parameters and command line (issue 30): each row is
one bad (or tricky) input and its expected outcome, an error of a given type
whose message names the argument or flag, or the value correctly handled.

Values are checked, not Python types: NumPy scalars (``np.float32(0)``), 0-d
arrays, strings, bools, NaN and infinities, and sizes whose weights would not
fit.  CLI rows run ``cli.run`` in this process: a bad flag exits with code 2,
naming the flag, before anything is built.
"""
import contextlib
import io
import json

import keras
import numpy as np
import pytest

from keras_contrastive import cli, heads, losses, models
from keras_contrastive._checks import MAX_PARAMETERS
from keras_contrastive.pretraining import PRESETS

RNG = np.random.default_rng(0)
Z = RNG.normal(size=(4, 8)).astype("float32")
QUEUE = RNG.normal(size=(16, 8)).astype("float32")
FEATURES = RNG.normal(size=(4, 6)).astype("float32")
FEATURE_QUEUE = RNG.normal(size=(16, 6)).astype("float32")
LABELS = np.array([0, 1, 0, 1])

#: the losses that take a temperature, called with ``t``
TEMPERATURE_LOSSES = {
    "nt_xent": lambda t: losses.nt_xent(Z, Z, temperature=t),
    "NTXent": lambda t: losses.NTXent(temperature=t)(None, np.concatenate([Z, Z])),
    "info_nce": lambda t: losses.info_nce(Z, Z, QUEUE, temperature=t),
    "batch_info_nce": lambda t: losses.batch_info_nce(Z, Z, temperature=t),
    "nearest_neighbour_nce": lambda t: losses.nearest_neighbour_nce(
        Z, FEATURES, FEATURE_QUEUE, QUEUE, k=3, temperature=t),
    "nnclr_loss": lambda t: losses.nnclr_loss(Z, Z, QUEUE, temperature=t),
    "supcon": lambda t: losses.supcon([Z, Z], LABELS, temperature=t),
    "swapped_prediction": lambda t: losses.swapped_prediction(
        [Z[:, :4], Z[:, 4:]], {0: losses.sinkhorn(Z[:, :4])}, temperature=t),
    "dino student": lambda t: losses.dino([Z, Z], [Z], np.zeros(8, "float32"),
                                          student_temperature=t),
    "dino teacher": lambda t: losses.dino([Z, Z], [Z], np.zeros(8, "float32"),
                                          teacher_temperature=t),
}
_NAMES = {"dino student": "student_temperature", "dino teacher": "teacher_temperature"}
#: a bad temperature, the error it raises and what the message says of it
BAD_TEMPERATURES = {
    "np.float32(0)": (np.float32(0), ValueError, "must be > 0"),
    "np.float64(-1)": (np.float64(-1), ValueError, "must be > 0"),
    "a string": ("0.1", TypeError, "must be a number, got {name}='0.1' \\(str\\)"),
    "a bool": (True, TypeError, "must be a number, got {name}=True \\(bool\\)"),
    "NaN": (float("nan"), ValueError, "must be a finite number"),
}

LOSS_ROWS = {f"{loss} temperature={label}": (
    lambda loss=loss, value=value: TEMPERATURE_LOSSES[loss](value), error,
    f"`{_NAMES.get(loss, 'temperature')}` " + message.format(
        name=_NAMES.get(loss, "temperature")))
    for loss in TEMPERATURE_LOSSES for label, (value, error, message) in BAD_TEMPERATURES.items()}
LOSS_ROWS.update({
    "sinkhorn epsilon=np.float32(0)": (lambda: losses.sinkhorn(Z, epsilon=np.float32(0)),
                                       ValueError, "`epsilon` must be > 0"),
    "sinkhorn iterations=2.0": (lambda: losses.sinkhorn(Z, iterations=2.0), TypeError,
                                "`iterations` must be an integer, got iterations=2.0"),
    "sinkhorn iterations=np.int64(0)": (lambda: losses.sinkhorn(Z, iterations=np.int64(0)),
                                        ValueError, "`iterations` must be an integer >= 1"),
    "barlow_twins lambda_=np.float64(-1)": (
        lambda: losses.barlow_twins(Z, Z, lambda_=np.float64(-1)), ValueError,
        "`lambda_` must be >= 0"),
    "barlow_twins epsilon='1e-5'": (lambda: losses.barlow_twins(Z, Z, epsilon="1e-5"),
                                    TypeError, "`epsilon` must be a number"),
    "vicreg sim_weight=nan": (lambda: losses.vicreg(Z, Z, sim_weight=float("nan")),
                              ValueError, "`sim_weight` must be a finite number"),
    "vicreg cov_weight=inf": (lambda: losses.vicreg(Z, Z, cov_weight=float("inf")),
                              ValueError, "`cov_weight` must be a finite number"),
    "vicreg_terms epsilon=-1": (lambda: losses.vicreg_terms(Z, Z, epsilon=-1), ValueError,
                                "`epsilon` must be >= 0"),
    "nearest_neighbour_nce k=0": (lambda: losses.nearest_neighbour_nce(
        Z, FEATURES, FEATURE_QUEUE, QUEUE, k=0), ValueError, "`k` must be an integer in \\[1, 16\\]"),
    "nearest_neighbour_nce k > queue": (lambda: losses.nearest_neighbour_nce(
        Z, FEATURES, FEATURE_QUEUE, QUEUE, k=17), ValueError, "got k=17"),
})


@pytest.fixture(scope="module")
def encoder():
    """One tiny encoder (28x28x1 -> 8-d), shared: the rows fail before it is used."""
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, strides=4),
                             keras.layers.GlobalAveragePooling2D()])


HUGE = "would hold .* more than the limit of 2,147,483,648"
#: model class, its bad keyword arguments, the error and the message fragment
MODEL_ROWS = {
    "SimCLR temperature=np.float32(0)": ("SimCLR", dict(temperature=np.float32(0)), ValueError,
                                         "`temperature` must be > 0, got temperature=np.float32"),
    "SimCLR temperature='0.5'": ("SimCLR", dict(temperature="0.5"), TypeError,
                                 "`temperature` must be a number, got temperature='0.5'"),
    "SimCLR temperature=True": ("SimCLR", dict(temperature=True), TypeError,
                                "`temperature` must be a number, got temperature=True"),
    "SimCLR temperature=nan": ("SimCLR", dict(temperature=float("nan")), ValueError,
                               "`temperature` must be a finite number"),
    "SimCLR temperature=np.array(-1.0)": ("SimCLR", dict(temperature=np.array(-1.0)),
                                          ValueError, "`temperature` must be > 0"),
    "SimCLR num_hidden_layers=-1": ("SimCLR", dict(num_hidden_layers=-1), ValueError,
                                    "`num_hidden_layers` must be an integer >= 0"),
    "SimCLR projection_dim=2.5": ("SimCLR", dict(projection_dim=2.5), TypeError,
                                  "`projection_dim` must be an integer, got projection_dim=2.5"),
    "SimCLR hidden_dim=10**6 (huge head)": ("SimCLR", dict(hidden_dim=10 ** 6,
                                                           num_hidden_layers=3), ValueError, HUGE),
    "MoCo temperature=np.float64(-1)": ("MoCo", dict(temperature=np.float64(-1)), ValueError,
                                        "`temperature` must be > 0"),
    "MoCo momentum='0.99'": ("MoCo", dict(momentum="0.99"), TypeError,
                             "`momentum` must be a number, got momentum='0.99'"),
    "MoCo momentum=np.float32(1.5)": ("MoCo", dict(momentum=np.float32(1.5)), ValueError,
                                      r"`momentum` must be in \[0, 1\]"),
    "MoCo queue_size=0": ("MoCo", dict(queue_size=0), ValueError,
                          "`queue_size` must be an integer >= 1, got queue_size=0"),
    "MoCo queue_size=np.int64(-64)": ("MoCo", dict(queue_size=np.int64(-64)), ValueError,
                                      "`queue_size` must be an integer >= 1"),
    "MoCo queue_size=10**10 (huge queue)": ("MoCo", dict(queue_size=10 ** 10), ValueError, HUGE),
    "MoCo version=True": ("MoCo", dict(version=True), TypeError,
                          "`version` must be an integer, got version=True"),
    "BYOL momentum=True": ("BYOL", dict(momentum=True), TypeError,
                           "`momentum` must be a number, got momentum=True"),
    "BYOL total_steps=0": ("BYOL", dict(total_steps=0), ValueError,
                           "`total_steps` must be an integer >= 1"),
    "MoCoV3 projector_layers=0": ("MoCoV3", dict(projector_layers=0), ValueError,
                                  "`projector_layers` must be an integer >= 1"),
    "MoCoV3 temperature=inf": ("MoCoV3", dict(temperature=float("inf")), ValueError,
                               "`temperature` must be a finite number"),
    "SimSiam predictor_dim=0": ("SimSiam", dict(predictor_dim=0), ValueError,
                                "`predictor_dim` must be an integer >= 1"),
    "NNCLR support_size=0": ("NNCLR", dict(support_size=0), ValueError,
                             "`support_size` must be an integer >= 1"),
    "NNCLR temperature=np.float32(0)": ("NNCLR", dict(temperature=np.float32(0)), ValueError,
                                        "`temperature` must be > 0"),
    "SupCon temperature=-0.1": ("SupCon", dict(temperature=-0.1), ValueError,
                                "`temperature` must be > 0"),
    "SwAV num_prototypes=np.int64(0)": ("SwAV", dict(num_prototypes=np.int64(0)), ValueError,
                                        "`num_prototypes` must be an integer >= 1"),
    "SwAV epsilon=0": ("SwAV", dict(epsilon=0), ValueError, "`epsilon` must be > 0"),
    "SwAV sinkhorn_iterations=1.5": ("SwAV", dict(sinkhorn_iterations=1.5), TypeError,
                                     "`iterations` must be an integer"),
    "SwAV queue_length=-1": ("SwAV", dict(queue_length=-1), ValueError,
                             "`queue_length` must be an integer >= 0"),
    "DINO student_temperature=np.float32(0)": ("DINO", dict(student_temperature=np.float32(0)),
                                               ValueError, "`student_temperature` must be > 0"),
    "DINO center_momentum='x'": ("DINO", dict(center_momentum="x"), TypeError,
                                 "`center_momentum` must be a number"),
    "DINO warmup_teacher_temperature_epochs=-1": (
        "DINO", dict(warmup_teacher_temperature_epochs=-1), ValueError,
        "`warmup_teacher_temperature_epochs` must be an integer >= 0"),
    "DINO out_dim=10**10 (huge head)": ("DINO", dict(out_dim=10 ** 10), ValueError, HUGE),
    "DINO bottleneck_dim=0": ("DINO", dict(bottleneck_dim=0), ValueError,
                              "`bottleneck_dim` must be an integer >= 1"),
    "BarlowTwins lambda_=np.float64(-1)": ("BarlowTwins", dict(lambda_=np.float64(-1)),
                                           ValueError, "`lambda_` must be >= 0"),
    "BarlowTwins hidden_dim=10**6 (huge head)": ("BarlowTwins", dict(hidden_dim=10 ** 6),
                                                 ValueError, HUGE),
    "VICReg epsilon=nan": ("VICReg", dict(epsilon=float("nan")), ValueError,
                           "`epsilon` must be a finite number"),
    "VICReg sim_weight='25'": ("VICReg", dict(sim_weight="25"), TypeError,
                               "`sim_weight` must be a number"),
    "KNNMoCo k=0": ("KNNMoCo", dict(k=0, queue_size=64), ValueError,
                    "`k` must be an integer >= 1"),
    "KNNMoCo k > queue_size": ("KNNMoCo", dict(k=65, queue_size=64), ValueError,
                               r"`k` must be an integer in \[1, queue_size\], got k=65"),
    "KNNMoCo nn_weight=-1": ("KNNMoCo", dict(nn_weight=-1, queue_size=64), ValueError,
                             "`nn_weight` must be >= 0"),
    "CPC grid=1": ("CPC", dict(grid=1), ValueError, "`grid` must be an integer >= 2"),
    "CPC grid=np.int64(4) prediction_steps=4": ("CPC", dict(grid=np.int64(4), prediction_steps=4),
                                                ValueError, r"`prediction_steps` must be an "
                                                r"integer in \[1, grid\)"),
    "Jigsaw jitter=-1": ("Jigsaw", dict(jitter=-1), ValueError,
                         "`jitter` must be an integer >= 0"),
    "Inpainting mask_fraction=1.0": ("Inpainting", dict(mask_fraction=1.0), ValueError,
                                     r"`mask_fraction` must be in \(0, 1\)"),
}

HEAD_ROWS = {
    "projection_head output_dim=np.int64(0)": (
        lambda: heads.projection_head([8], np.int64(0)), ValueError, "output_dim=np.int64\\(0\\)"),
    "projection_head hidden_dims=[8.0]": (lambda: heads.projection_head([8.0], 4), ValueError,
                                          r"hidden_dims=\[8.0\]"),
    "projection_head hidden_dims='64'": (lambda: heads.projection_head("64", 4), ValueError,
                                         "hidden_dims=\\['64'\\]"),
    "projection_head 10**5 x 10**5 (huge)": (
        lambda: heads.projection_head([10 ** 5], 10 ** 5, input_dim=8), ValueError, HUGE),
    "prediction_head 10**6 (huge)": (lambda: heads.prediction_head(10 ** 6, 10 ** 4),
                                     ValueError, HUGE),
    "dino_head out_dim=10**10 (huge)": (lambda: heads.dino_head(8, out_dim=10 ** 10),
                                        ValueError, "dino_head .*out_dim=10000000000.* would hold"),
    "dino_head num_layers=0": (lambda: heads.dino_head(8, out_dim=4, num_layers=0), ValueError,
                               "`num_layers` must be an integer >= 1"),
    "dino_head hidden_dim=True": (lambda: heads.dino_head(8, out_dim=4, hidden_dim=True),
                                  ValueError, "hidden_dim=True"),
    "NormalizedDense units='4'": (lambda: heads.NormalizedDense("4"), TypeError,
                                  "`units` must be an integer"),
    "NormalizedDense units=0": (lambda: heads.NormalizedDense(0), ValueError,
                                "`units` must be an integer >= 1"),
}


@pytest.mark.parametrize("row", sorted(LOSS_ROWS))
def test_a_bad_loss_hyper_parameter_is_refused_naming_it(row):
    call, error, message = LOSS_ROWS[row]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("row", sorted(MODEL_ROWS))
def test_a_bad_model_hyper_parameter_is_refused_naming_it_before_training(row, encoder):
    name, arguments, error, message = MODEL_ROWS[row]
    with pytest.raises(error, match=message):
        getattr(models, name)(encoder, **arguments)


@pytest.mark.parametrize("row", sorted(HEAD_ROWS))
def test_a_bad_head_size_is_refused_naming_it(row):
    call, error, message = HEAD_ROWS[row]
    with pytest.raises(error, match=message):
        call()


def test_the_size_limit_is_the_documented_one():
    """A head just under 2**31 numbers is not refused by the limit (only counted);
    one just over is."""
    from keras_contrastive._checks import check_parameter_count

    with pytest.raises(ValueError, match="2,147,483,649 numbers"):
        check_parameter_count("x", MAX_PARAMETERS + 1)
    with pytest.raises(ValueError, match="memory available"):  # the memory check alone
        import keras_contrastive._checks as checks
        original = checks._available_memory_bytes
        checks._available_memory_bytes = lambda: 1000
        try:
            check_parameter_count("x", 251)
        finally:
            checks._available_memory_bytes = original


# -- correct handling: a NumPy value is the number it holds ------------------------


@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(0.5), np.array(0.5)])
def test_a_numpy_temperature_gives_the_loss_of_the_python_number(value):
    np.testing.assert_array_equal(losses.nt_xent(Z, Z, value), losses.nt_xent(Z, Z, 0.5))


def test_numpy_hyper_parameters_are_stored_as_python_numbers_and_serialise(encoder):
    model = models.MoCo(encoder, temperature=np.float32(0.25), momentum=np.float64(0.9),
                        queue_size=np.int64(32), projection_dim=np.int64(4),
                        hidden_dim=np.int32(8))
    config = {k: model.get_config()[k] for k in ("temperature", "momentum", "queue_size",
                                                 "projection_dim", "hidden_dim")}
    assert config == {"temperature": 0.25, "momentum": 0.9, "queue_size": 32,
                      "projection_dim": 4, "hidden_dim": 8}
    assert [type(v) for v in config.values()] == [float, float, int, int, int]
    json.dumps(config)  # plain JSON
    assert model.queue.values.shape == (32, 4)


# -- the command line ------------------------------------------------------------


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.run([str(a) for a in args])
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


CLI_ROWS = {
    "pretrain --epochs 0": (["pretrain", "--epochs", "0"], "--epochs must be an integer >= 1"),
    "pretrain --epochs -1": (["pretrain", "--epochs", "-1"], "--epochs must be an integer >= 1"),
    "pretrain --epochs 1.5": (["pretrain", "--epochs", "1.5"], "invalid int value: '1.5'"),
    "pretrain --epoch 3 (abbreviation)": (["pretrain", "--epoch", "3"],
                                          "unrecognized arguments: --epoch"),
    "pretrain --batch 64 (abbreviation)": (["pretrain", "--batch", "64"],
                                           "unrecognized arguments: --batch"),
    "pretrain --train-subset 0": (["pretrain", "--train-subset", "0"],
                                  "--train-subset must be an integer >= 1, got 0"),
    "pretrain --train-subset -5": (["pretrain", "--train-subset", "-5"],
                                   "--train-subset must be an integer >= 1"),
    "pretrain --learning-rate 0": (["pretrain", "--learning-rate", "0"],
                                   "--learning-rate must be > 0, got 0"),
    "pretrain --learning-rate -0.1": (["pretrain", "--learning-rate", "-0.1"],
                                      "--learning-rate must be > 0"),
    "pretrain --learning-rate nan": (["pretrain", "--learning-rate", "nan"],
                                     "--learning-rate must be a finite number"),
    "pretrain --learning-rate inf": (["pretrain", "--learning-rate", "inf"],
                                     "--learning-rate must be a finite number"),
    "pretrain --batch-size 0": (["pretrain", "--batch-size", "0"],
                                "--batch-size must be an integer >= 1"),
    "pretrain --width 0": (["pretrain", "--width", "0"], "--width must be an integer >= 1"),
    "pretrain --temperature 0": (["pretrain", "--temperature", "0"],
                                 "--temperature must be > 0"),
    "pretrain --temperature -1": (["pretrain", "--temperature", "-1"],
                                  "--temperature must be > 0"),
    "pretrain --projection-dim 0": (["pretrain", "--projection-dim", "0"],
                                    "--projection-dim must be an integer >= 1"),
    "pretrain --local-crops -1": (["pretrain", "--local-crops", "-1"],
                                  "--local-crops must be an integer >= 0"),
    "pretrain --local-size 0": (["pretrain", "--local-size", "0"],
                                "--local-size must be an integer >= 1"),
    "pretrain --min-overlap 0": (["pretrain", "--min-overlap", "0"],
                                 r"--min-overlap must be in (0, 1]"),
    "pretrain --max-iou 1.5": (["pretrain", "--max-iou", "1.5"], r"--max-iou must be in (0, 1]"),
    "pretrain --image-size 0": (["pretrain", "--image-size", "0"],
                                "--image-size must be a positive int (a square) or H,W"),
    "pretrain --eval-train-subset 0": (["pretrain", "--eval-train-subset", "0"],
                                       "--eval-train-subset must be an integer >= 1"),
    "pretrain --eval-test-subset -1": (["pretrain", "--eval-test-subset", "-1"],
                                       "--eval-test-subset must be an integer >= 1"),
    "pretrain --seed -1": (["pretrain", "--seed", "-1"], "--seed must be an integer >= 0"),
    "pretrain --backup-steps 0": (["pretrain", "--backup-steps", "0", "--resume", "/tmp/x"],
                                  "--backup-steps must be an integer >= 1"),
    "pretrain --version -1": (["pretrain", "--version", "-1"],
                              "--version must be an integer >= 0"),
    "export --version -1": (["export", "m.keras", "--out", "o", "--version", "-1"],
                            "--version must be an integer >= 0"),
    "pretrain --export-version -1": (["pretrain", "--export-version", "-1"],
                                     "--export-version must be an integer >= 0"),
    "pretrain --knn-k 0": (["pretrain", "--knn-k", "0"], "--knn-k must be an integer >= 1"),
    "pretrain --backbone resnet34": (["pretrain", "--backbone", "resnet34"],
                                     "--backbone takes resnet18, resnet50, vit_small, vit_tiny, "
                                     "vit_micro, small_cnn, keras_hub:NAME; got 'resnet34'"),
    "export --vers 2 (abbreviation)": (["export", "m.keras", "--out", "o", "--vers", "2"],
                                       "unrecognized arguments: --vers"),
    "evaluate --label-fraction 0": (["evaluate", "x", "--label-fraction", "0"],
                                    r"--label-fraction must be in (0, 1]"),
    "evaluate --label-fraction 1.5": (["evaluate", "x", "--label-fraction", "1.5"],
                                      r"--label-fraction must be in (0, 1]"),
    "evaluate --epochs 0": (["evaluate", "x", "--epochs", "0"],
                            "--epochs must be an integer >= 1"),
    "evaluate --knn-k 0": (["evaluate", "x", "--knn-k", "0"], "--knn-k must be an integer >= 1"),
    "evaluate --train-subset 0": (["evaluate", "x", "--train-subset", "0"],
                                  "--train-subset must be an integer >= 1"),
    "evaluate --test-subset -1": (["evaluate", "x", "--test-subset", "-1"],
                                  "--test-subset must be an integer >= 1"),
    "evaluate --seed -2": (["evaluate", "x", "--seed", "-2"], "--seed must be an integer >= 0"),
    "evaluate --proto knn (abbreviation)": (["evaluate", "x", "--proto", "knn"],
                                            "unrecognized arguments: --proto"),
    "views --image-size 0": (["views", "--out", "v.png", "--image-size", "0"],
                             "--image-size must be a positive int (a square) or H,W"),
    "views --local-crops -2": (["views", "--out", "v.png", "--local-crops", "-2"],
                               "--local-crops must be an integer >= 0"),
}


@pytest.mark.parametrize("row", sorted(CLI_ROWS))
def test_a_bad_flag_exits_2_naming_the_flag_before_any_work(row):
    args, message = CLI_ROWS[row]
    code, out, err = _run(*args)
    assert code == 2, (code, err[-2000:])
    assert message in err, err[-2000:]
    assert out == ""  # nothing ran: no progress, no report


CONFIG_ROWS = {
    "epochs=0": (dict(epochs=0), ValueError, "`epochs` must be an integer >= 1, got epochs=0"),
    "train_subset=0": (dict(train_subset=0), ValueError, "`train_subset` must be an integer >= 1"),
    "learning_rate=-1e-3": (dict(learning_rate=-1e-3), ValueError, "`learning_rate` must be > 0"),
    "batch_size='256'": (dict(batch_size="256"), TypeError, "`batch_size` must be an integer"),
    "key_momentum=1.5": (dict(key_momentum=1.5), ValueError, r"`key_momentum` must be in \[0, 1\]"),
}


@pytest.mark.parametrize("row", sorted(CONFIG_ROWS))
def test_a_bad_pretrain_config_field_is_refused_naming_it(row):
    changes, error, message = CONFIG_ROWS[row]
    with pytest.raises(error, match=message):
        PRESETS["demo"].replace(**changes)


def test_recipe_flags_refuse_the_same_values():
    from absl import flags

    from keras_contrastive.pretraining.flags import define_config_flags

    values = flags.FlagValues()
    define_config_flags(["epochs", "learning_rate", "train_subset"], values)
    values(["recipe", "--epochs=2", "--learning_rate=0.1"])  # in range: parsed
    assert (values.epochs, values.learning_rate, values.train_subset) == (2, 0.1, None)
    for bad, message in (("--epochs=0", "--epochs must be an integer >= 1"),
                         ("--learning_rate=-0.5", "--learning_rate must be > 0")):
        fresh = flags.FlagValues()
        define_config_flags(["epochs", "learning_rate"], fresh)
        with pytest.raises(flags.IllegalFlagValueError, match=message):
            fresh(["recipe", bad])
