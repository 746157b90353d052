"""The replica matrix (issue 30, "Distribution: exact as promised").

One row per case, each asserting its outcome:

* synchronised batch norm: every registered method is built by
  ``pretraining.build_model`` (what ``pretrain`` and a recipe's ``--strategy
  mirrored`` call) with ``synchronized_bn=True`` under a 2-replica strategy
  where its class takes it; ``BUILDS``: such models have only global batch
  norms -- in the encoder, heads and momentum targets -- and, without a
  strategy, none.
* one replica: ``GlobalBatchNormalization`` computes its statistics in two
  passes there too (as accurate as Keras' own layer where E[x^2] - E[x]^2
  cancels).
* ``SPLITS``: views that would split unevenly across 2 replicas are refused
  by ``fit``'s checks with a ``ValueError`` naming the problem, before
  anything is traced; views that split evenly pass.
* ``SHARES``: the in-step guard (``distribute.check_even_split``) for batches
  whose size is known only at run time: per-replica shares ``(a, b)`` pass
  when equal and stop the step with a message naming the sizes otherwise;
  a static batch costs no check.
* ``TF_SPLITS``: how ``tf.distribute`` splits a global batch (the premise of
  the refusals): a batch of 9 on 2 replicas is 5 + 4, the last one of 3 is
  2 + 1.

Every method's 2-replica step is compared with its 1-replica step in
float32 by the ``test_two_replica_step_equals_one_replica_step`` of its
model tests (``REPLICA_TESTS`` below; ``test_every_method_has_a_float32_replica_test``
keeps that list complete).
"""
import importlib
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import distribute, models, views
from keras_contrastive.layers import GlobalBatchNormalization
from keras_contrastive.models.registry import get_method, method_names
from keras_contrastive.pretraining import (
    PretrainConfig, build_model, protocol_arguments, synchronized_batch_norm)
from keras_contrastive.views.spec import check_array_split
from tests.conftest import make_two_replica_strategy, small_cnn


@pytest.fixture(scope="module")
def strategy():
    """One 2-replica strategy for the module (its collective keys are its own)."""
    return make_two_replica_strategy()


def _batch_norms(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


# -- every method synchronises its batch norms under several replicas ----------------

@pytest.mark.parametrize("name", method_names())
def test_every_method_is_told_to_synchronise_under_two_replicas(name, strategy):
    spec = get_method(name)
    config = PretrainConfig(method=name)
    assert "synchronized_bn" not in protocol_arguments(spec, config)
    with strategy.scope():
        arguments = protocol_arguments(spec, config)
    takes = "synchronized_bn" in spec.model_class.config_fields
    assert arguments.get("synchronized_bn", False) is takes


#: full builds (ResNet-18 width 4, small heads): a projection head, a momentum
#: target, DINO's head with batch norm, and a method whose only BN is the encoder's
BUILDS = {"simclr": {"hidden_dim": 16, "projection_dim": 8},
          "byol": {"hidden_dim": 16, "projection_dim": 8},
          "dino": {"out_dim": 32, "hidden_dim": 16, "bottleneck_dim": 8, "use_bn_in_head": True},
          "rotation": {}}


@pytest.mark.parametrize("name", list(BUILDS))
def test_a_model_built_for_two_replicas_has_only_global_batch_norms(name, strategy):
    config = PretrainConfig(method=name, width=4, image_size=16, model_options=BUILDS[name])
    with strategy.scope():
        assert synchronized_batch_norm()
        model = build_model(config, (16, 16, 1))
    norms = _batch_norms(model)
    assert len(norms) > 10, "the ResNet's batch norms at least"
    local = [layer.path for layer in norms if not isinstance(layer, GlobalBatchNormalization)]
    assert not local, f"per-replica batch norms under 2 replicas: {local}"


def test_a_model_built_without_a_strategy_keeps_keras_batch_norm():
    assert not synchronized_batch_norm()
    model = build_model(PretrainConfig(method="dino", width=4, image_size=16,
                                       model_options=BUILDS["dino"]), (16, 16, 1))
    norms = _batch_norms(model)
    assert norms and not any(isinstance(layer, GlobalBatchNormalization) for layer in norms)


def test_model_options_can_turn_synchronisation_off(strategy):
    config = PretrainConfig(method="simclr", width=4, image_size=16,
                            model_options={**BUILDS["simclr"], "synchronized_bn": False})
    with strategy.scope():
        model = build_model(config, (16, 16, 1))
    assert model.get_config()["synchronized_bn"] is False
    head = [layer for layer in _batch_norms(model) if "projection" in layer.path]
    assert head and not any(isinstance(layer, GlobalBatchNormalization) for layer in head)


# -- global batch norm on one replica: two passes, as on several -------------------------

@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (10.0, 0.01), (1000.0, 0.5)])
def test_global_batch_norm_on_one_replica_is_as_accurate_as_keras_own(mean, std):
    """Without a strategy the layer used Keras' synchronized moments, E[x^2] - E[x]^2
    (off by units at mean 10, std 0.01 in float32); now its two passes, as
    Keras' unsynchronised layer and the layer on several replicas."""
    x = np.random.default_rng(0).normal(mean, std, (32, 50, 3)).astype("float32")
    exact = x.astype(np.float64)
    exact = (exact - exact.mean((0, 1))) / np.sqrt(exact.var((0, 1)) + 1e-5)
    keras_error = np.abs(keras.layers.BatchNormalization(epsilon=1e-5)(x, training=True)
                         - exact).max()
    error = np.abs(GlobalBatchNormalization(epsilon=1e-5)(x, training=True) - exact).max()
    assert error <= max(2 * keras_error, 1e-5), (error, keras_error)


def test_global_batch_norm_statistics_of_a_large_batch_stay_accurate_in_float32():
    """64 maps of 28x28: TensorFlow's float32 sum of a channel's 50,176 values in
    one go is off by up to 600 roundoffs, which Keras' own layer (measured here
    too) passes on to every output; the layer sums per image first."""
    x = np.random.default_rng(0).normal(0.3, 0.2, (64, 28, 28, 4)).astype("float32")
    exact = x.astype(np.float64)
    exact = (exact - exact.mean((0, 1, 2))) / np.sqrt(exact.var((0, 1, 2)) + 1e-5)
    keras_error = np.abs(keras.layers.BatchNormalization(epsilon=1e-5)(x, training=True)
                         - exact).max()
    error = np.abs(GlobalBatchNormalization(epsilon=1e-5)(x, training=True) - exact).max()
    assert error < 1e-5, (error, keras_error)


# -- uneven global batches are refused before training ------------------------------

IMAGES = np.random.default_rng(0).uniform(size=(20, 12, 12, 1)).astype("float32")


def _views(n, **extra):
    return {"global": (IMAGES[:n], IMAGES[:n]), **extra}


def _batched(n, batch, drop_remainder):
    return tf.data.Dataset.from_tensor_slices(_views(n)).batch(batch, drop_remainder)


SPLITS = {
    # case: (views, fit's batch_size for arrays, the error's fragment or None: accepted)
    "static batch 15": (lambda: tf.data.Dataset.from_tensors(_views(15)), None,
                        "the batch size 15 cannot be split evenly across 2 replicas"),
    "static batch 7 (drop_remainder)": (lambda: _batched(14, 7, True), None,
                                        "the batch size 7 cannot be split evenly"),
    "static batch 1": (lambda: tf.data.Dataset.from_tensors(_views(1)), None,
                       "the batch size 1 cannot be split evenly"),
    "no fixed batch (drop_remainder=False), 17 in 8s": (
        lambda: _batched(17, 8, False), None, "has no fixed batch size"),
    "no fixed batch even if the remainder is even": (
        lambda: _batched(16, 6, False), None, r"drop_remainder=True \(make_views' default\)"),
    "unbatched generator views": (
        lambda: tf.data.Dataset.from_generator(
            lambda: iter([_views(4)]),
            output_signature={"global": (tf.TensorSpec([None, 12, 12, 1]),) * 2}),
        None, "has no fixed batch size"),
    "device views of 9 images": (
        lambda: tf.data.Dataset.from_tensors({"images": IMAGES[:9]}), "device",
        "the batch size 9 cannot be split evenly"),
    "labels beside 15 views": (
        lambda: tf.data.Dataset.from_tensors(_views(15, labels=np.zeros(15, "int64"))),
        "supcon", "the batch size 15 cannot be split evenly"),
    "arrays, batch_size 7": (lambda: _views(14), 7, "fit's batch_size=7 cannot be split evenly"),
    "arrays, 17 in batches of 8 (last 1)": (
        lambda: _views(17), 8, "17 examples in batches of 8 end with a batch of 1"),
    "arrays, 9 under Keras' default batch of 32": (
        lambda: _views(9), None, "9 examples in batches of 32 end with a batch of 9"),
    "static batch 16": (lambda: tf.data.Dataset.from_tensors(_views(16)), None, None),
    "static batch 8 (drop_remainder)": (lambda: _batched(17, 8, True), None, None),
    "arrays, 18 in batches of 8 (last 2)": (lambda: _views(18), 8, None),
    "device views of 8 images": (lambda: tf.data.Dataset.from_tensors({"images": IMAGES[:8]}),
                                 "device", None),
}


@pytest.mark.parametrize("case", list(SPLITS))
def test_views_that_split_unevenly_across_replicas_are_refused(case, strategy):
    make, batch_size, fragment = SPLITS[case]
    with strategy.scope():
        if batch_size == "supcon":
            model = models.SupCon(small_cnn((12, 12, 1)), projection_dim=8, hidden_dim=8)
        else:
            device = views.simclr_augment(12, channels=1) if batch_size == "device" else None
            model = models.SimCLR(small_cnn((12, 12, 1)), projection_dim=8, hidden_dim=8,
                                  device_views=device)
    data = make()

    def check():  # what fit runs before tracing anything
        model.check_views(data)
        check_array_split(data, batch_size if isinstance(batch_size, int) else None,
                          model.distribute_strategy.num_replicas_in_sync)

    if fragment is None:
        check()
    else:
        with pytest.raises(ValueError, match=fragment):
            check()


def test_fit_refuses_arrays_that_split_unevenly_before_training(strategy):
    with strategy.scope():
        model = models.SimCLR(small_cnn((12, 12, 1)), projection_dim=8, hidden_dim=8)
        model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="end with a batch of 1, which cannot be split evenly"):
        model.fit(_views(17), batch_size=8, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0


# -- the in-step guard -------------------------------------------------------------------

SHARES = {(4, 4): None, (1, 1): None, (0, 0): None, (5, 4): "9", (4, 5): "9",
          (1, 0): "1", (0, 3): "3", (8, 6): "14"}


@pytest.mark.parametrize("shares", list(SHARES), ids=str)
def test_a_step_on_unequal_shares_stops_naming_the_sizes(shares, strategy):
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.ones([shares[context.replica_id_in_sync_group], 3]))

    @tf.function(input_signature=None, reduce_retracing=True)
    def step(batch):
        def replica_step(x):  # a batch size known only at run time
            x = tf.compat.v1.placeholder_with_default(x, [None, 3])
            return tf.reduce_sum(distribute.check_even_split({"v": x})["v"])

        return strategy.run(replica_step, args=(batch,))

    static = {"v": tf.zeros([3, 3])}
    assert distribute.check_even_split(static) is static  # one replica
    total = SHARES[shares]
    if total is None:
        out = strategy.experimental_local_results(step(values))
        assert [float(x) for x in out] == [3.0 * n for n in shares]
    else:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"cannot be split evenly across 2 replicas(.|\n)*"
                                 rf"global batch:(.|\n)*{total}"):
            step(values)


# -- the premise: how tf.distribute splits a batch ------------------------------------------

TF_SPLITS = {"9 in one batch": (9, 9, [[5, 4]]), "10 in 4s": (10, 4, [[2, 2], [2, 2], [1, 1]]),
             "11 in 4s": (11, 4, [[2, 2], [2, 2], [2, 1]])}


@pytest.mark.parametrize("case", list(TF_SPLITS))
def test_tf_distribute_splits_a_global_batch_unevenly(case, strategy):
    count, batch, expected = TF_SPLITS[case]
    data = tf.data.Dataset.range(count).batch(batch)
    shares = [[int(tf.size(x)) for x in strategy.experimental_local_results(element)]
              for element in strategy.experimental_distribute_dataset(data)]
    assert shares == expected


# -- every method has its float32 replica test ---------------------------------------------

#: method -> (test module, parameter of its test_two_replica_step_equals_one_replica_step)
REPLICA_TESTS = {
    **{name: ("tests.models.test_momentum_methods", name) for name in (
        "byol", "moco_v1", "moco_v2", "moco_v3", "simsiam", "nnclr", "knn_moco", "leoclr")},
    **{name: ("tests.models.test_redundancy_methods", name)
       for name in ("barlow_twins", "vicreg")},
    **{name: ("tests.models.test_pretext", name)
       for name in ("rotation", "jigsaw", "inpainting", "colorization")},
    "simclr": ("tests.models.test_simclr_replicas", None),
    "swav": ("tests.models.test_swav", None), "dino": ("tests.models.test_dino", None),
    "supcon": ("tests.models.test_supcon", None), "cpc": ("tests.models.test_cpc", None),
    "npid": ("tests.models.test_npid", None), "mae": ("tests.models.test_mae", None),
    "densecl": ("tests.models.test_densecl", None), "ijepa": ("tests.models.test_ijepa", None),
}


def test_every_method_has_a_float32_replica_test():
    assert sorted(REPLICA_TESTS) == sorted(method_names())
    for name, (module_name, parameter) in REPLICA_TESTS.items():
        module = importlib.import_module(module_name)
        test = module.test_two_replica_step_equals_one_replica_step
        assert "float64" not in inspect.getsource(test), module_name
        if parameter is not None:
            marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
            assert any(parameter in m.args[1] for m in marks), (name, module_name)
