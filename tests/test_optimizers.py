"""LARS against a NumPy transcription of its formula (SimCLR's implementation)."""
import keras
import numpy as np
import pytest

from keras_contrastive.optimizers import LARS


def numpy_lars(weights, grads_per_step, lr, momentum, weight_decay, eta, nesterov,
               no_decay, no_adapt, clip=False):
    """Steps of LARS on a dict of float64 arrays, one variable at a time."""
    w = {k: v.astype(np.float64).copy() for k, v in weights.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for grads in grads_per_step:
        for name in w:
            g = grads[name].astype(np.float64)
            if name not in no_decay:
                g = g + weight_decay * w[name]
            ratio = 1.0
            if name not in no_adapt:
                wn, gn = np.linalg.norm(w[name]), np.linalg.norm(g)
                ratio = eta * wn / gn if wn > 0 and gn > 0 else 1.0
                if clip:  # LARC: the local rate eta * ||w|| / ||g|| capped at lr
                    ratio = min(ratio / lr, 1.0)
            v[name] = momentum * v[name] + lr * ratio * g
            w[name] -= momentum * v[name] + lr * ratio * g if nesterov else v[name]
    return w


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("exclude", [("bias",), ()])
def test_updates_equal_numpy(nesterov, exclude, clip):
    rng = np.random.default_rng(0)
    shapes = {"dense/kernel": (5, 3), "dense/bias": (3,), "zero/kernel": (2, 2)}
    weights = {k: rng.normal(size=s).astype("float32") for k, s in shapes.items()}
    weights["zero/kernel"][:] = 0  # ||w|| = 0: trust ratio 1
    if clip:  # a large kernel: its local rate eta * ||w|| / ||g|| exceeds lr and is capped
        weights["dense/kernel"] *= 10
    grads = [{k: rng.normal(size=s).astype("float32") for k, s in shapes.items()}
             for _ in range(3)]
    variables = {}
    for k, value in weights.items():
        layer, name = k.split("/")
        with keras.name_scope(layer):
            variables[k] = keras.Variable(value, name=name)
    assert variables["dense/bias"].path == "dense/bias"
    # eta 0.3 with clip: some variables' local rate is capped at lr, others not
    eta = 0.3 if clip else 0.01
    opt = LARS(learning_rate=0.5, momentum=0.9, weight_decay=1e-2, eta=eta, nesterov=nesterov,
               exclude_from_weight_decay=exclude, clip=clip)
    for step in grads:
        opt.apply_gradients([(step[k], variables[k]) for k in shapes])
    no = {k for k in shapes if any(p in k for p in exclude)}
    expected = numpy_lars(weights, grads, 0.5, 0.9, 1e-2, eta, nesterov, no, no, clip)
    for k in shapes:
        np.testing.assert_allclose(variables[k].numpy(), expected[k], rtol=1e-6, atol=1e-6,
                                   err_msg=k)


def test_adaptation_and_decay_can_be_excluded_separately():
    rng = np.random.default_rng(1)
    value, grad = rng.normal(size=(4,)).astype("float32"), rng.normal(size=(4,)).astype("float32")
    with keras.name_scope("bn"):
        variable = keras.Variable(value, name="gamma")
    opt = LARS(learning_rate=0.1, momentum=0.0, weight_decay=0.1, eta=0.01,
               exclude_from_weight_decay=(), exclude_from_layer_adaptation=("gamma",))
    opt.apply_gradients([(grad, variable)])
    expected = numpy_lars({"g": value}, [{"g": grad}], 0.1, 0.0, 0.1, 0.01, False,
                          no_decay=set(), no_adapt={"g"})["g"]
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6)


def test_config_round_trip_and_bad_arguments():
    opt = LARS(learning_rate=0.2, momentum=0.8, weight_decay=1.5e-6, eta=0.002, nesterov=True,
               exclude_from_weight_decay=["bias"], clip=True)
    clone = LARS.from_config(opt.get_config())
    assert clone.get_config() == opt.get_config()
    assert keras.optimizers.deserialize(keras.optimizers.serialize(opt)).eta == 0.002
    for bad in ({"momentum": 1.0}, {"eta": -1}, {"weight_decay": "x"}):
        with pytest.raises(ValueError):
            LARS(**bad)


def test_lars_lowers_simclrs_loss(fashion_mnist_train):
    from keras_contrastive import models
    from tests.conftest import fixed_views, tiny_encoder
    import tensorflow as tf

    model = models.SimCLR(tiny_encoder(), projection_dim=8)
    model.compile(optimizer=LARS(learning_rate=1.0, weight_decay=1e-6))
    data = tf.data.Dataset.from_tensor_slices(fixed_views(fashion_mnist_train[0][:256])).batch(64)
    loss = model.fit(data, epochs=6, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0] - 0.1, loss


@pytest.mark.parametrize("warmup", [0, 7])
def test_warmup_cosine_equals_its_formula(warmup):
    from keras_contrastive.optimizers import warmup_cosine

    peak, total = 0.3, 50
    schedule = warmup_cosine(peak, total, warmup)
    for step in range(total + 1):
        if step < warmup:
            expected = peak * step / warmup
        else:
            expected = peak * 0.5 * (1 + np.cos(np.pi * (step - warmup) / (total - warmup)))
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-7), step
    restored = type(schedule).from_config(schedule.get_config())
    assert float(restored(warmup + 3)) == pytest.approx(float(schedule(warmup + 3)))
    with pytest.raises(ValueError, match="warmup_steps must be in"):
        warmup_cosine(peak, 10, 10)
