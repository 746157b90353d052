"""One training process of the kill-and-resume test (run by tests/test_kill_resume.py).

    python tests/resume_job.py METHOD BACKUP_DIR OUT_NPZ KILL SAVE_FREQ

Trains METHOD (simclr, moco_v2 or dino) with ``model.fit`` for 3 epochs of
4 batches of 16 real Fashion-MNIST images, shuffled anew each epoch (a
64-image buffer) and randomly augmented (``simclr_augment``), deterministic
ops on, with ``keras_contrastive.callbacks.BackupAndRestore(BACKUP_DIR,
save_freq=SAVE_FREQ)``.  The views come from ``views.make_views(...,
epochs=3, initial_epoch=backup.resume_epoch(4), deterministic=True)``: each
epoch's order is a function of (seed, epoch) and each batch's views of
(seed, epoch, batch), so a resumed process sees the batches the
uninterrupted one saw.
KILL is a step N > 0: the process sends itself SIGKILL after that optimizer
step (no exception, no cleanup: as if the machine died); ``N:weights``: it is
killed inside the backup of step N, half of the weights file written;
``N:record``: inside the backup of step N, the weights file in place but not
yet its record.  With KILL 0 it trains to the end and writes every variable
of the model and of its optimizer, by path, to OUT_NPZ.
"""
import os
import signal
import sys

method, backup_dir, out = sys.argv[1:4]
kill_after, _, kill_inside = sys.argv[4].partition(":")
kill_after, save_freq = int(kill_after), int(sys.argv[5])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keras_contrastive import models  # noqa: E402
from keras_contrastive.callbacks import BackupAndRestore  # noqa: E402
from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.views import make_views, simclr_augment  # noqa: E402

BATCH, STEPS, EPOCHS = 16, 4, 3
keras.utils.set_random_seed(0)
tf.config.experimental.enable_op_determinism()


def views_dataset(initial_epoch):
    images = load_fashion_mnist_arrays("train")[0][:BATCH * STEPS]
    return make_views(tf.data.Dataset.from_tensor_slices(images),
                      simclr_augment(28, channels=1, seed=0), batch_size=BATCH,
                      shuffle_buffer=BATCH * STEPS, seed=0, epochs=EPOCHS,
                      initial_epoch=initial_epoch, deterministic=True)


def encoder():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Conv2D(16, 3),
        keras.layers.GlobalAveragePooling2D(),
    ])


def build():
    if method == "simclr":
        return models.SimCLR(encoder(), projection_dim=8, hidden_dim=16)
    if method == "moco_v2":  # the queue holds 5 batches: its pointer wraps during the run
        return models.MoCo(encoder(), version=2, queue_size=5 * BATCH, momentum=0.9,
                           projection_dim=8, hidden_dim=16)
    if method == "dino":  # the teacher temperature warms up over the first 2 epochs
        return models.DINO(encoder(), out_dim=32, hidden_dim=16, bottleneck_dim=8,
                           momentum=0.9, warmup_teacher_temperature_epochs=2)
    raise SystemExit(f"unknown method {method}")


class KillAfter(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if (kill_after and not kill_inside
                and int(self.model.optimizer.iterations.numpy()) == kill_after):
            os.kill(os.getpid(), signal.SIGKILL)


def replace_or_die(source, target, replace=os.replace):
    """``os.replace``, except inside the backup of step ``kill_after``: dies half-way
    through its weights file (``weights``) or before its record is renamed (``record``)."""
    if int(model.optimizer.iterations.numpy()) == kill_after:
        if kill_inside == "weights" and target.endswith(".weights.h5"):
            with open(source, "r+b") as f:
                f.truncate(os.path.getsize(source) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        if kill_inside == "record" and target.endswith(".json"):
            os.kill(os.getpid(), signal.SIGKILL)
    replace(source, target)


os.replace = replace_or_die  # BackupAndRestore renames each complete file into place


model = build()
model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=5e-4))
# BackupAndRestore first: the backup of a step is written before the kill
backup = BackupAndRestore(backup_dir, save_freq=save_freq)
model.fit(views_dataset(backup.resume_epoch(STEPS)), epochs=EPOCHS, steps_per_epoch=STEPS,
          verbose=0, callbacks=[backup, KillAfter()])
state = {v.path: v.numpy() for v in model.variables + model.optimizer.variables}
np.savez(out, **state)
