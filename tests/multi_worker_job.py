"""One process of the multi-worker test (run by tests/test_multi_worker.py, not by pytest).

    python tests/multi_worker_job.py INDEX PORTS OUT_DIR

``INDEX`` >= 0: worker ``INDEX`` of a ``MultiWorkerMirroredStrategy`` cluster
on 127.0.0.1 at ``PORTS`` (comma-separated); ``INDEX`` = -1: the same
training in one process without a strategy (the reference).  Trains SimCLR
and MoCo-v2 with ``model.fit`` on three fixed global batches of 16 real
Fashion-MNIST images (flip / brightness views), batch norm synchronised over
the global batch, and writes each model's weights (queue included) to
``OUT_DIR/<method>_<INDEX>.npz``; the chief alone checkpoints the model to
``OUT_DIR/<method>.keras`` (``distribute.is_chief``).
"""
import json
import os
import sys

index, ports, out_dir = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
if index >= 0:
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    })
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keras_contrastive import distribute, models  # noqa: E402
from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.layers import GlobalBatchNormalization  # noqa: E402

GLOBAL_BATCH, STEPS = 16, 3
strategy = (tf.distribute.MultiWorkerMirroredStrategy() if index >= 0
            else tf.distribute.get_strategy())


def views_dataset():
    images = load_fashion_mnist_arrays("train")[0][:GLOBAL_BATCH * STEPS]
    x = images.astype("float32") / 255.0
    scale = np.random.default_rng(0).uniform(0.6, 1.0, size=(len(x), 1, 1, 1))
    views = {"global": (x[:, :, ::-1, :], np.clip(x * scale, 0, 1).astype("float32"))}
    data = tf.data.Dataset.from_tensor_slices(views).batch(GLOBAL_BATCH, drop_remainder=True)
    options = tf.data.Options()
    # each worker takes its replica's slice of every global batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def encoder():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, use_bias=False),
        GlobalBatchNormalization(),
        keras.layers.ReLU(),
        # no bias: the projector's batch norm removes any constant shift, so a
        # bias here gets a gradient of pure rounding noise (about 1e-5 after 3
        # steps), which differed between the runs by more than the tolerance
        keras.layers.Conv2D(16, 3, use_bias=False),
        keras.layers.GlobalAveragePooling2D(),
    ])


BUILDERS = {
    "simclr": lambda: models.SimCLR(encoder(), projection_dim=8, temperature=0.5,
                                    synchronized_bn=True),
    "moco": lambda: models.MoCo(encoder(), queue_size=32, projection_dim=8, hidden_dim=16,
                                momentum=0.9, synchronized_bn=True),
}

for method, build in BUILDERS.items():
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    chief = distribute.is_chief(strategy)
    checkpoint = [keras.callbacks.ModelCheckpoint(os.path.join(out_dir, f"{method}.keras"))]
    history = model.fit(views_dataset(), epochs=1, verbose=0,
                        callbacks=checkpoint if chief and index >= 0 else []).history
    np.savez(os.path.join(out_dir, f"{method}_{index}.npz"), *model.get_weights(),
             loss=np.asarray(history["loss"]), chief=np.asarray(chief))
    print(f"worker {index} {method}: loss {history['loss']}", flush=True)
