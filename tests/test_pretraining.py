"""Every method the CLI and the quality benchmark offer builds, and ``pretrain`` trains one."""
import numpy as np
import pytest

from keras_contrastive.models.registry import get_method, method_names
from keras_contrastive.pretraining import PretrainConfig, build_model, open_split, pretrain
from tests.conftest import fixed_views
from tests.recipes.test_recipes import EXPORT_CASES


@pytest.mark.parametrize("method", method_names())
def test_every_method_builds_and_computes_its_objective(method):
    """On its ``--preset cpu_small`` data (colorization's is RGB: grey is refused)."""
    images, labels = open_split(get_method(method).cpu_small_data, "train").arrays(8)
    config = PretrainConfig(method=method, batch_size=8, width=4,
                            **get_method(method).cpu_small_settings)  # MAE: a ViT
    model = build_model(config, images.shape[1:])
    model.compile(optimizer="sgd")  # kNN-MoCo's warm-up reads the optimizer's step
    views = fixed_views(images, original=model.needs_original_view)
    if model.needs_labels:
        views["labels"] = labels
    if model.needs_indices:
        views["indices"] = np.arange(8)
    assert set(views) == set(get_method(method).reads) - {"local"}, views.keys()
    loss, extras = model.compute_objective(views, training=True)
    assert np.isfinite(float(loss))
    assert extras["embeddings"].shape[0] >= 8
    assert type(model).from_config(model.get_config()).get_config() == model.get_config()
    # what the recipe test's one export per kind of encoder rests on: any other method
    # exports its backbone itself (I-JEPA: the EMA copy of it), a graph an export case serves
    if method not in EXPORT_CASES:
        extractor = model.feature_extractor()
        assert extractor is model.encoder or (
            type(extractor) is type(model.encoder)
            and [w.shape for w in extractor.weights] == [w.shape for w in model.encoder.weights]
            and [type(l) for l in extractor.layers] == [type(l) for l in model.encoder.layers]
        ), method


@pytest.mark.parametrize("method", ["simclr", "moco_v2"])
def test_fit_traces_the_train_step_once(method, fashion_mnist_train, monkeypatch):
    """The optimizer's slots are built before the trace: a variable created
    inside it makes tf.function trace the whole step a second time."""
    import keras
    import tensorflow as tf

    model = build_model(PretrainConfig(method=method, batch_size=8, width=4), (28, 28, 1))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))  # momentum: slots
    traces = []
    real = type(model).compute_objective
    monkeypatch.setattr(type(model), "compute_objective",
                        lambda self, *a, **k: traces.append(1) or real(self, *a, **k))
    views = tf.data.Dataset.from_tensor_slices(fixed_views(fashion_mnist_train[0][:16]))
    model.fit(views.batch(8), epochs=1, verbose=0)
    assert len(traces) == 1
    assert int(model.optimizer.iterations.numpy()) == 2


@pytest.mark.parametrize("method,anchor", [("leoclr", "crop"), ("byol", "original"),
                                           ("supcon", "crop"), ("npid", "crop")])
def test_pretrain_trains_a_method_that_needs_more_than_two_crops(method, anchor):
    """The original image (LeOCLR's anchor), the labels (SupCon) or each image's index
    (NPID, with a bank of the run's training images) reach the model."""
    config = PretrainConfig(method=method, anchor=anchor, epochs=2, batch_size=16, width=4,
                            train_subset=32)  # 2 epochs: one views dataset holds both
    seen = {}

    def evaluator(encoder, train, test, cfg):
        seen["features"] = encoder(train[0][:4].astype("float32") / 255.0).shape
        return {"evaluated": 1.0}

    result = pretrain(config, verbose=0, evaluate_random_init=False, log=lambda *a: None,
                      evaluator=evaluator)
    assert len(result.history["loss"]) == 2 and np.isfinite(result.history["loss"]).all()
    assert result.metrics == {"evaluated": 1.0}
    assert seen["features"] == (4, result.model.feature_dim)
    assert int(result.model.optimizer.iterations.numpy()) == 4
    assert (result.model.needs_original_view or result.model.needs_labels
            or result.model.needs_indices)
    if result.model.needs_indices:  # one entry per training image (the protocol: 60,000)
        assert result.model.bank.size == 32


def test_anchor_original_is_refused_for_methods_without_it():
    with pytest.raises(ValueError, match="anchor='original' is for byol and simclr"):
        build_model(PretrainConfig(method="moco_v2", anchor="original"), (28, 28, 1))


def test_view_strategy_settings_build_a_multi_crop_or_are_refused():
    from keras_contrastive.pretraining import build_augment
    from keras_contrastive.views import MultiCrop

    config = PretrainConfig(local_crops=4, min_overlap=0.2, stronger=True)
    strategy = build_augment(config, 28, 1)
    assert isinstance(strategy, MultiCrop)
    assert (strategy.num_local, strategy.local_size, strategy.min_overlap) == (4, 12, 0.2)
    assert not isinstance(build_augment(PretrainConfig(), 28, 1), MultiCrop)
    with pytest.raises(ValueError, match="set local_crops > 0"):
        build_augment(PretrainConfig(min_overlap=0.2), 28, 1)


def test_vicreg_trains_with_larc_by_default_and_the_optimizer_can_be_chosen():
    from keras_contrastive.optimizers import LARS
    from keras_contrastive.pretraining import build_optimizer

    vicreg = PretrainConfig(method="vicreg")
    larc = build_optimizer(vicreg, 10)
    assert isinstance(larc, LARS) and (larc.eta, larc.clip, larc.lars_weight_decay) == (
        0.02, True, 1e-4)
    assert (vicreg.peak_learning_rate, vicreg.effective_warmup_epochs) == (0.3, 1)
    lars = build_optimizer(vicreg.replace(optimizer="lars"), 10)  # the paper's
    assert (lars.eta, lars.clip, lars.lars_weight_decay) == (0.001, False, 1e-6)
    assert not isinstance(build_optimizer(PretrainConfig(method="simclr"), 10), LARS)
    assert isinstance(build_optimizer(PretrainConfig(optimizer="lars"), 10), LARS)
    with pytest.raises(ValueError, match="must be one of"):
        build_optimizer(PretrainConfig(optimizer="adagrad"), 10)


def test_colorization_trains_on_the_tinted_toy_and_is_evaluated_on_lightness():
    """The encoder reads L/100 of the RGB views; evaluation gets the RGB images and
    the model's feature_extractor, which computes that lightness inside."""
    from keras_contrastive.data import load_fashion_mnist_arrays, load_tinted_fashion_mnist_arrays

    tinted, labels = load_tinted_fashion_mnist_arrays("test")
    gray, gray_labels = load_fashion_mnist_arrays("test")
    assert tinted.shape == gray.shape[:3] + (3,) and np.array_equal(labels, gray_labels)
    # each pixel is its gray level times its class's colour
    from keras_contrastive.data.fashion_mnist import TINT_PALETTE

    expected_rgb = gray.astype(np.float64) * TINT_PALETTE[labels][:, None, None, :]
    assert np.abs(tinted - expected_rgb).max() <= 0.5 + 1e-6
    assert len({tuple(TINT_PALETTE[c]) for c in labels}) == 10  # ten colours
    config = PretrainConfig(method="colorization", dataset="fashion_mnist_tinted", epochs=1,
                            batch_size=16, width=4, train_subset=32, eval_train_subset=40,
                            eval_test_subset=20)
    seen = {}

    def evaluator(extractor, train, test, cfg):
        seen["extractor"], seen["train"], seen["test"] = extractor, train[0], test[0]
        return {"evaluated": 1.0}

    result = pretrain(config, verbose=0, evaluate_random_init=False, log=lambda *a: None,
                      evaluator=evaluator)
    assert seen["train"].shape == (40, 28, 28, 3)
    np.testing.assert_array_equal(seen["test"], tinted[:20])  # the RGB images themselves
    from keras_contrastive.views.pretext import rgb_to_lab

    rgb = tinted[:20].astype(np.float32) / 255.0
    expected = result.model.encoder(rgb_to_lab(rgb)[..., :1] / 100.0, training=False)
    np.testing.assert_allclose(seen["extractor"](rgb, training=False), expected, atol=1e-5)


def test_model_options_override_the_protocol_and_unknown_ones_are_named():
    model = build_model(PretrainConfig(method="swav", width=4,
                                       model_options={"num_prototypes": 17}), (28, 28, 1))
    assert model.get_config()["num_prototypes"] == 17
    with pytest.raises(ValueError, match=r"model_options \['queue_sise'\] for 'moco_v2'"):
        build_model(PretrainConfig(method="moco_v2", width=4, model_options={"queue_sise": 8}),
                    (28, 28, 1))


@pytest.mark.parametrize("name,cls,decay", [("adamw", "AdamW", 0.04), ("adam", "Adam", None),
                                            ("lars", "LARS", 1e-6), ("sgd", "SGD", 5e-4)])
def test_optimizers_get_their_protocol_defaults(name, cls, decay):
    from keras_contrastive.pretraining import build_optimizer

    config = PretrainConfig(optimizer=name, epochs=2, warmup_epochs=1)
    optimizer = build_optimizer(config, steps_per_epoch=10)
    assert type(optimizer).__name__ == cls
    assert getattr(optimizer, "lars_weight_decay", optimizer.weight_decay) == decay
    assert float(optimizer.learning_rate) == 0.0  # warming up
    optimizer.iterations.assign(10)
    assert float(optimizer.learning_rate) == pytest.approx(config.peak_learning_rate)
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        build_optimizer(PretrainConfig(optimizer="rmsprop"), 10)


def test_method_optimizer_defaults_apply_only_to_the_methods_optimizer():
    from keras_contrastive.pretraining import build_optimizer

    byol = PretrainConfig(method="byol", batch_size=128, epochs=2)
    assert (byol.optimizer_name, byol.peak_learning_rate, byol.effective_weight_decay,
            byol.effective_warmup_epochs) == ("sgd", 0.25, 1e-5, 1)
    optimizer = build_optimizer(byol, steps_per_epoch=10)
    assert float(optimizer.learning_rate) == 0.0  # the method's warm-up epoch
    optimizer.iterations.assign(10)
    assert float(optimizer.learning_rate) == pytest.approx(0.25)
    assert optimizer.weight_decay == 1e-5
    # explicit settings win; another optimizer gets that optimizer's defaults
    mine = byol.replace(learning_rate=0.1, weight_decay=5e-4, warmup_epochs=0)
    assert (mine.peak_learning_rate, mine.effective_weight_decay,
            mine.effective_warmup_epochs) == (0.1, 5e-4, 0)
    lars = byol.replace(optimizer="lars")
    assert (lars.peak_learning_rate, lars.effective_weight_decay,
            lars.effective_warmup_epochs) == (0.1, 1e-6, 0)
    # methods without settings keep the protocol's SGD; VICReg's is LARC
    simclr = byol.replace(method="simclr")
    assert (simclr.optimizer_name, simclr.peak_learning_rate, simclr.effective_weight_decay,
            simclr.effective_warmup_epochs) == ("sgd", 0.03, 5e-4, 0)
    assert byol.replace(method="vicreg").optimizer_name == "larc"


def test_cli_and_recipe_flags_are_generated_from_the_config_fields():
    """One declaration: a field's type, choices and docstring help reach both the
    CLI (argparse) and the recipes (absl)."""
    from absl import flags

    from keras_contrastive import cli, recipes
    from keras_contrastive.pretraining.flags import config_flag

    parser = cli._parser()
    args = parser.parse_args(["pretrain", "--batch-size", "64", "--stem", "imagenet",
                              "--stronger", "--method", "moco_v1"])
    config = PretrainConfig().replace_given(**{f: getattr(args, f) for f in cli._PRETRAIN_FIELDS})
    assert (config.batch_size, config.stem, config.stronger, config.method, config.epochs) == (
        64, "imagenet", True, "moco_v1", 5)
    with pytest.raises(SystemExit):
        parser.parse_args(["pretrain", "--stem", "vgg"])  # choices from the field's metadata
    values = flags.FlagValues()
    recipes.define_flags("byol", values)
    assert values["batch_size"].help == config_flag("batch_size").help + " (default: the preset's)"
    assert config_flag("batch_size").help == "global batch (pairs of views per step)."
    values(["recipe", "--batch_size=64", "--seed=3"])
    assert (recipes.config_from_flags("byol", values).batch_size,
            recipes.config_from_flags("byol", values).seed) == (64, 3)
