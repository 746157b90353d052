"""What ``--deterministic`` costs a training step, measured in one process.

Runs ``pretrain`` (SimCLR, ResNet-18 of ``--width``, CIFAR stem, batch
``--batch-size`` view pairs of Fashion-MNIST in memory, views made in
tf.data) for ``--epochs`` epochs in each mode, ``--rounds`` rounds with the
modes interleaved (default, deterministic, default, ...), and times every
step from ``on_train_batch_begin`` to ``on_train_batch_end`` and the gaps
between steps (the wait for the next batch of views).  The first epoch of
each run (tracing) is left out; the median over the remaining steps of all
rounds of a mode is reported.

    python benchmarks/determinism_cost.py [--width 8 --batch-size 128 --images 2048]

Prints one JSON line per mode and a Markdown table.
"""
import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_contrastive.pretraining import PRESETS, pretrain  # noqa: E402


class StepClock(keras.callbacks.Callback):
    """Seconds of each step after the first epoch, and of the wait before it."""

    def on_train_begin(self, logs=None):
        self.steps, self.waits, self._epoch, self._end = [], [], 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._end = epoch, None

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()
        if self._epoch > 0 and self._end is not None:
            self.waits.append(self._begin - self._end)

    def on_train_batch_end(self, batch, logs=None):
        self._end = time.perf_counter()
        if self._epoch > 0:
            self.steps.append(self._end - self._begin)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    config = PRESETS["quality"].replace(width=args.width, batch_size=args.batch_size,
                                        train_subset=args.images, epochs=args.epochs)
    times = {False: ([], []), True: ([], [])}
    for _ in range(args.rounds):
        for deterministic in (False, True):
            keras.backend.clear_session()
            clock = StepClock()
            pretrain(config.replace(deterministic=deterministic), callbacks=[clock], verbose=0,
                     evaluate_random_init=False, log=lambda *a: None, evaluator=lambda *a: {})
            times[deterministic][0].extend(clock.steps)
            times[deterministic][1].extend(clock.waits)
    rows = []
    for deterministic, (steps, waits) in times.items():
        row = {"mode": "--deterministic" if deterministic else "default",
               "median_step_s": round(float(np.median(steps)), 4),
               "median_wait_s": round(float(np.median(waits)), 4),
               "median_step_plus_wait_s": round(float(np.median(steps) + np.median(waits)), 4),
               "steps_timed": len(steps), "width": args.width, "batch_size": args.batch_size,
               "images": args.images, "rounds": args.rounds, "cpus": os.cpu_count(),
               "machine": platform.machine()}
        rows.append(row)
        print(json.dumps(row))
    print("\n| mode | median step (s) | median wait for views (s) | steps timed |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['mode']} | {row['median_step_s']} | {row['median_wait_s']} | "
              f"{row['steps_timed']} |")
    base, det = (r["median_step_plus_wait_s"] for r in rows)
    print(f"\n--deterministic: {det / base:.2f}x the default's step (+ wait) time")


if __name__ == "__main__":
    main()
