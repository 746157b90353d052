"""What an epoch costs beyond its steps, with tf.data's autotuning model on and off.

``make_views(..., autotune=...)``: with the autotuning model on (TensorFlow
2.21), destroying a pipeline's iterator waits for the model's next
optimisation round, and the period between rounds doubles while the iterator
lives.  ``model.fit`` makes one iterator per epoch and drops it when the next
epoch starts (or when ``fit`` returns), so each epoch can wait about as long
again as it ran.  This script measures it on the quality protocol's SimCLR
(ResNet-18 ``--width`` 16, CIFAR stem, batch 256 view pairs of Fashion-MNIST,
SGD): ``--rounds`` interleaved rounds of ``model.fit(epochs=--epochs)`` on
``--images`` images per mode, each epoch timed whole and step by step, plus
the time from the last callback (``on_train_end``) to ``fit`` returning.
The first epoch of each mode (tracing) is left out of the medians.  It also
times the bare input pipeline (``next()`` on its iterator) in each mode.

    python benchmarks/epoch_overhead.py [--images 4096 --epochs 3 --rounds 2]

Prints one JSON line per mode and a Markdown table.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive import backbones, models, views  # noqa: E402
from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.pretraining import PRESETS  # noqa: E402

MODES = {"autotune=False (default)": False, "autotune=True": True}


class _EpochClock(keras.callbacks.Callback):
    """Seconds of each epoch, of its steps, and from on_train_end to fit's return."""

    def __init__(self):
        super().__init__()
        self.epochs, self.steps = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._steps = time.perf_counter(), 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._step = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._steps += time.perf_counter() - self._step

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self._epoch)
        self.steps.append(self._steps)

    def on_train_end(self, logs=None):
        self.train_end = time.perf_counter()


def _pipeline_pairs_per_s(images, maker, batch_size, autotune, batches=20, warmup=4):
    data = views.make_views(tf.data.Dataset.from_tensor_slices(images), maker,
                            batch_size=batch_size, seed=0, autotune=autotune).repeat()
    iterator = iter(data)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096, help="images per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit")
    parser.add_argument("--rounds", type=int, default=2, help="fits per mode, interleaved")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    config = PRESETS["quality"]
    images = load_fashion_mnist_arrays("train")[0][: args.images]
    maker = views.ViewMaker(views.simclr_augment(
        28, channels=images.shape[-1], strength=config.jitter_strength,
        crop_scale=config.crop_scale, grayscale_prob=0.0, seed=0))
    runs = {}
    for mode, autotune in MODES.items():
        encoder = backbones.resnet18(images.shape[1:], width=args.width, stem=config.stem)
        model = models.SimCLR(encoder, projection_dim=config.projection_dim,
                              temperature=config.temperature)
        model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9, weight_decay=5e-4))
        data = views.make_views(tf.data.Dataset.from_tensor_slices(images), maker,
                                batch_size=args.batch_size, seed=0, autotune=autotune)
        runs[mode] = {"model": model, "data": data, "epochs": [], "steps": [], "gaps": []}
    for round_ in range(args.rounds):
        for mode, run in runs.items():
            clock = _EpochClock()
            run["model"].fit(run["data"], epochs=args.epochs, verbose=0, callbacks=[clock])
            run["gaps"].append(time.perf_counter() - clock.train_end)
            first = 1 if round_ == 0 else 0  # the first epoch traces the step
            run["epochs"] += clock.epochs[first:]
            run["steps"] += clock.steps[first:]
    rows = {}
    for mode, autotune in MODES.items():
        run = runs[mode]
        epoch, steps = float(np.median(run["epochs"])), float(np.median(run["steps"]))
        rows[mode] = {
            "kind": "epoch_overhead", "mode": mode, "epoch_s": round(epoch, 2),
            "steps_s": round(steps, 2),
            "overhead_s": round(float(np.median(np.subtract(run["epochs"], run["steps"]))), 2),
            "fit_return_gap_s": round(float(np.median(run["gaps"])), 2),
            "epochs_timed": len(run["epochs"]),
            "pipeline_pairs_per_s": round(_pipeline_pairs_per_s(
                images, maker, args.batch_size, autotune), 1),
            "steps_per_epoch": args.images // args.batch_size, "width": args.width,
            "machine": f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}"}
        print(json.dumps(rows[mode]), flush=True)
    print("\n| make_views | epoch s (median) | its steps s | epoch - steps s | "
          "on_train_end -> fit returns s | pipeline pairs/s |\n|---|---|---|---|---|---|")
    for mode, row in rows.items():
        print(f"| {mode} | {row['epoch_s']} | {row['steps_s']} | {row['overhead_s']} | "
              f"{row['fit_return_gap_s']} | {row['pipeline_pairs_per_s']} |")


if __name__ == "__main__":
    main()
