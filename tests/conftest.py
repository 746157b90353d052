"""Test session setup shared by every test module.

Two logical CPU devices are configured before TensorFlow initialises its
devices, so tests can build a real 2-replica ``MirroredStrategy`` on a CPU-only
machine.  Fashion-MNIST fixtures read the real idx files (no download: tests
skip with a reason naming the missing files only if the data set is absent,
which ``make test`` prevents by installing it first).
"""
import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)


@pytest.fixture(scope="session")
def fashion_mnist_train():
    """The first 2,000 Fashion-MNIST training images (uint8, 28x28x1) and labels."""
    from keras_contrastive.data import load_fashion_mnist_arrays

    images, labels = load_fashion_mnist_arrays("train")
    return images[:2000], labels[:2000]


@pytest.fixture(scope="session")
def fashion_mnist_test():
    """The first 1,000 Fashion-MNIST test images (uint8, 28x28x1) and labels."""
    from keras_contrastive.data import load_fashion_mnist_arrays

    images, labels = load_fashion_mnist_arrays("test")
    return images[:1000], labels[:1000]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a clean Keras name scope and a fixed seed.

    Without the garbage collection of ``clear_session()``'s default
    (``free_memory=True``): a full collection in a process holding
    TensorFlow's graphs costs about 0.2 s of CPU a test (tests/losses and
    test_layers, 135 tests: 78-89 CPU-s with it, 59 without), and Python's
    own collector still frees the cycles."""
    import keras

    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    np.random.seed(0)
    yield


_strategies_made = [0]


def fresh_collective_keys():
    """Gives the next ``MirroredStrategy`` built in this process its own collective
    group and instance keys (see ``make_two_replica_strategy``): call it before code
    under test builds a strategy itself."""
    _strategies_made[0] += 1
    tf.distribute.MirroredStrategy._collective_key_base = 1000 * _strategies_made[0]


def make_two_replica_strategy():
    """A real 2-replica ``MirroredStrategy`` over the two logical CPUs.

    Each strategy gets its own collective group keys
    (``_collective_key_base``, TensorFlow's hook for tests): strategies built
    in one process otherwise reuse the same group and instance keys, and the
    collective runtime rejects a later all-reduce whose shape or dtype
    differs from an earlier one under the same key.
    """
    fresh_collective_keys()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    return strategy


@pytest.fixture
def two_replicas():
    """A fresh 2-replica strategy (see ``make_two_replica_strategy``)."""
    return make_two_replica_strategy()


def tiny_encoder():
    """A small conv encoder for Fashion-MNIST-shaped inputs (28x28x1 -> 16-d)."""
    import keras

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, strides=2),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(16, 3),
            keras.layers.GlobalAveragePooling2D(),
        ],
        name="encoder",
    )


def fixed_views(images, seed=0, original=False):
    """Deterministic 'views' of real uint8 images in the current floatx: a
    horizontal flip and a random brightness scaling (plus the image itself as
    ``"original"`` when asked), so that two runs see exactly the same batch."""
    import keras

    rng = np.random.default_rng(seed)
    x = images.astype(keras.config.floatx()) / 255.0
    scale = rng.uniform(0.6, 1.0, size=(len(x), 1, 1, 1))
    out = {"global": (x[:, :, ::-1, :], np.clip(x * scale, 0, 1).astype(x.dtype))}
    if original:
        out["original"] = x
    return out


def crop_views(images, batch_size=64, seed=0, original=False, epochs=None, labels=None):
    """Two random crops (and the whole image as ``"original"`` when asked; each
    image's label as ``"labels"`` when ``labels`` are given).

    With ``epochs`` the dataset holds that many epochs of batches (fit it with
    ``steps_per_epoch=len(images) // batch_size``) and is reproducible: every
    view is a function of ``(seed, epoch, batch)``, so a learning test sees the
    same data in every run and process (without, a parallel map lets batches
    overtake each other and race for the augmentation's seed state: NNCLR's
    first-epoch loss ranged 4.44-4.54 over identical runs)."""
    from keras_contrastive import views

    augment = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0),
                                   grayscale_prob=0.0, seed=seed)
    whole = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=None,
                                 grayscale_prob=0.0, seed=seed + 1) if original else None
    source = images if labels is None else (images, labels)
    return views.make_views(tf.data.Dataset.from_tensor_slices(source), augment,
                            batch_size=batch_size, seed=seed, original_augment=whole,
                            epochs=epochs, deterministic=epochs is not None,
                            labels=labels is not None)


def fit_crop_views(model, images, epochs, seed=0, original=False, batch_size=64):
    """``model.fit`` for ``epochs`` on reproducible crop views of ``images`` (``crop_views``
    with ``epochs``): a learning test's figures are the same in every run; its history."""
    data = crop_views(images, batch_size, seed, original, epochs=epochs)
    return model.fit(data, epochs=epochs, steps_per_epoch=len(images) // batch_size,
                     verbose=0).history


def small_cnn(input_shape=(28, 28, 1)):
    """conv-BN-ReLU x3 (16, 32, 64 channels) + pooling: a quarter of ResNet-18
    width 8's step time on 28x28 images."""
    from keras_contrastive import backbones

    return backbones.small_cnn(input_shape)


def sync_bn_encoder(input_shape):
    """conv-BN-ReLU x2 + pooling with global BN: what the replica test checks is the
    method's step (the ResNet itself is covered by SimCLR's replica test)."""
    import keras

    from keras_contrastive.layers import GlobalBatchNormalization

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, use_bias=False)(inputs)
    x = keras.layers.ReLU()(GlobalBatchNormalization(epsilon=1e-5)(x))
    x = keras.layers.Conv2D(16, 3, strides=2, use_bias=False)(x)
    x = keras.layers.ReLU()(GlobalBatchNormalization(epsilon=1e-5)(x))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="small")


@contextlib.contextmanager
def float64():
    """Keras floatx float64 inside the block (replica tests compare to 1e-5)."""
    import keras

    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx("float32")


#: float32's unit roundoff (2**-24): the tolerance of a float32 replica test is
#: ``FLOAT32_STEP_ULPS`` of it, relative to the size of what is compared
FLOAT32_EPS = float(np.finfo(np.float32).eps) / 2
#: measured (docs/RELIABILITY.md, "Replicas"): the 2-replica weights of every
#: method's test differ from the 1-replica ones by at most 90 roundoffs of the scale
FLOAT32_STEP_ULPS = 512


def replica_tolerance(start, after, loss):
    """``(weights_atol, loss_atol)`` for comparing a 2-replica run with a 1-replica
    run that ended at ``after`` from ``start`` with ``loss`` (history values).

    float64: 1e-5 for both.  float32: ``FLOAT32_STEP_ULPS`` unit roundoffs of the
    scale of what is compared, since two float32 runs that sum in different
    orders each differ from the exact result by some roundoffs of the values
    they combine: a weight by some of ``max(1, largest change of any float
    variable in the run)``, the loss by some of ``max(1, |loss|)``.
    """
    import keras

    if keras.config.floatx() != "float32":
        return 1e-5, 1e-5
    step = max(float(np.max(np.abs(a - b))) for a, b in zip(after, start)
               if a.size and a.dtype.kind == "f")
    tolerance = FLOAT32_STEP_ULPS * FLOAT32_EPS
    return tolerance * max(1.0, step), tolerance * max(1.0, float(np.max(np.abs(loss))))


def fit_on_one_and_two_replicas(build, dataset, strategy, atol=None):
    """Fits ``build()`` for one epoch of ``dataset`` without a strategy and inside
    ``strategy.scope()`` from the same weights; asserts equal loss and equal
    weights (every variable: targets, queues, centers) to ``atol`` (default:
    :func:`replica_tolerance`, in the current floatx).

    Returns ``(single, mirrored, start)``: both models and the initial weights.
    """
    single = build()
    start = [w.copy() for w in single.get_weights()]
    with strategy.scope():
        mirrored = build()
        mirrored.set_weights(start)
    loss_single = single.fit(dataset, epochs=1, verbose=0).history["loss"]
    loss_mirrored = mirrored.fit(dataset, epochs=1, verbose=0).history["loss"]
    weights_atol, loss_atol = replica_tolerance(start, single.get_weights(), loss_single)
    if atol is not None:
        weights_atol = loss_atol = atol
    np.testing.assert_allclose(loss_mirrored, loss_single, rtol=0, atol=loss_atol)
    for a, b, w in zip(single.get_weights(), mirrored.get_weights(), single.weights):
        np.testing.assert_allclose(b, a, rtol=0, atol=weights_atol, err_msg=w.path)
    return single, mirrored, start


def assert_round_trip(model, path, images):
    """``model.save(path)`` then ``keras.models.load_model``: asserts the same
    class and configuration, every variable equal (weights, BN statistics,
    EMA targets, queues and pointers, centers, prototypes; the optimizer's
    slots and iteration count when compiled) and equal outputs on
    ``images`` (uint8): the encoder's and, when the model has one, the
    projection head's.  Returns the restored model."""
    import keras

    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model)
    config, restored_config = model.get_config(), restored.get_config()
    for name in getattr(model, "config_fields", ()):
        assert restored_config[name] == config[name], name
    assert len(restored.weights) == len(model.weights)
    for saved, loaded in zip(model.weights, restored.weights):
        assert loaded.shape == saved.shape, saved.path
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy(), err_msg=saved.path)
    if model.optimizer is not None and model.optimizer.built:
        assert len(restored.optimizer.variables) == len(model.optimizer.variables)
        for saved, loaded in zip(model.optimizer.variables, restored.optimizer.variables):
            np.testing.assert_array_equal(loaded.numpy(), saved.numpy(), err_msg=saved.path)
    x = images.astype(keras.config.floatx()) / 255.0
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    if getattr(model, "projector", None) is not None:
        np.testing.assert_allclose(restored.projector(restored(x)), model.projector(model(x)),
                                   atol=1e-6)
    return restored


def tflite_embeddings(path, images):
    """The embeddings a ``.tflite`` encoder gives for float32 ``images`` in [0, 1]:
    LiteRT's interpreter (``ai_edge_litert``) where installed, else TensorFlow's
    ``tf.lite.Interpreter`` (deprecated in its favour since TF 2.20, still in 2.21,
    same API), with the input resized to the batch."""
    import warnings

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"(?s).*tf\.lite\.Interpreter is deprecated")
        interpreter = Interpreter(model_path=str(path))
    (given,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(given["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], np.asarray(images, np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(output["index"])


#: the suite run whose test times order and mark this one (``make test DURATIONS=0``
#: from a fresh clone; refresh it with a newer run's listing)
_BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "benchmarks")
REFERENCE_DURATIONS = os.path.join(_BENCHMARKS, "results", "test_durations_2fd66f8_2026-12-06.txt")
#: a test is ``slow`` when it took at least this long (setup, call and teardown) in
#: the reference run; ``make test-quick`` runs the others
SLOW_SECONDS = 3.0


def reference_durations(path=REFERENCE_DURATIONS):
    """``{test id: seconds}`` (setup + call + teardown) of the reference run; ``{}``
    where the listing is missing.  The listing's parser is
    ``benchmarks/compare_test_runs.py``'s."""
    import importlib.util

    if not os.path.exists(path):
        return {}
    spec = importlib.util.spec_from_file_location(
        "compare_test_runs", os.path.join(_BENCHMARKS, "compare_test_runs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.per_test(module.durations(path))


def order_by_module_time(items, seconds):
    """``items`` with their modules in descending order of the modules' summed
    reference time (tests the reference lacks count 0), each module's tests in
    their own order: the long tests start first, the run ends on short ones
    (pytest-xdist hands each worker a contiguous share, then steals from the
    end), and a module's fixtures stay set up once per worker."""
    modules = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    weight = {name: sum(seconds.get(item.nodeid, 0.0) for item in group)
              for name, group in modules.items()}
    ordered = sorted(modules, key=lambda name: -weight[name])  # stable: ties keep their order
    return [item for name in ordered for item in modules[name]]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"slow: took at least {SLOW_SECONDS:.0f} s in the reference run "
        "(tests/conftest.py REFERENCE_DURATIONS); `make test-quick` leaves these out")


def pytest_collection_modifyitems(config, items):
    seconds = reference_durations()
    for item in items:
        if seconds.get(item.nodeid, 0.0) >= SLOW_SECONDS:
            item.add_marker(pytest.mark.slow)
    items[:] = order_by_module_time(items, seconds)
