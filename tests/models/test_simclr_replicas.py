"""One SimCLR step on 2 replicas equals one step on 1 replica (same global batch)."""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, models


def _views(images, seed):
    """Two deterministic 'views' of real images: a flip and a brightness shift."""
    rng = np.random.default_rng(seed)
    x = images.astype(keras.config.floatx()) / 255.0
    v1 = x[:, :, ::-1, :]
    v2 = np.clip(x * rng.uniform(0.6, 1.0, size=(len(x), 1, 1, 1)), 0, 1).astype(x.dtype)
    return {"global": (v1, v2)}


def _build(strategy, initial_weights=None):
    with strategy.scope():
        encoder = backbones.resnet18((28, 28, 1), width=4, synchronized_bn=True)
        model = models.SimCLR(encoder, projection_dim=16, temperature=0.2, synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=5e-4))
        if initial_weights is not None:
            model.set_weights(initial_weights)
    return model


def test_two_replica_step_equals_one_replica_step():
    """Loss, health metric and every updated weight agree to 1e-5.

    Runs in float64: Keras' synchronized batch norm computes the variance as
    E[x^2] - E[x]^2 across replicas while the single-device path uses the
    two-pass formula; in float32 the two differ by rounding (about 1e-5
    relative after a ResNet).  float64 removes the rounding, so what is
    compared is the arithmetic of the distributed step itself.

    It runs in a subprocess: TensorFlow keys collective ops by instance
    number per process, and float64 collectives here would clash with the
    float32 collectives of later MirroredStrategy tests in the same process.
    """
    import subprocess
    import sys

    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "EQUAL" in result.stdout


def _compare_one_and_two_replicas(images):
    views = _views(images[:16], seed=0)
    dataset = tf.data.Dataset.from_tensors(views)

    single = _build(tf.distribute.get_strategy())
    start = [w.copy() for w in single.get_weights()]
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored = _build(mirrored_strategy, initial_weights=start)

    history_single = single.fit(dataset, epochs=1, verbose=0)
    history_mirrored = mirrored.fit(dataset, epochs=1, verbose=0)

    np.testing.assert_allclose(
        history_mirrored.history["loss"], history_single.history["loss"], atol=1e-5
    )
    np.testing.assert_allclose(
        history_mirrored.history["embedding_std"],
        history_single.history["embedding_std"], atol=1e-5,
    )
    moved = 0
    for before, a, b in zip(start, single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-5)
        moved += not np.allclose(a, before)
    # the step changed the weights (so the comparison is not vacuous)
    assert moved > len(start) // 2


if __name__ == "__main__":
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import conftest  # noqa: F401  (two logical CPU devices)
    from keras_contrastive.data import load_fashion_mnist_arrays

    keras.utils.set_random_seed(0)
    keras.config.set_floatx("float64")
    _compare_one_and_two_replicas(load_fashion_mnist_arrays("train")[0][:2000])
    print("EQUAL")

