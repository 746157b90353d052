"""Where augmentation runs: in tf.data (``augment_on="data"``) or in the step
(``augment_on="device"``), timed end to end with ``model.fit``.

The quality protocol's SimCLR (ResNet-18 ``width`` 16, CIFAR stem, batch 256
view pairs of 28x28x1 Fashion-MNIST, SGD) with the protocol's augmentation.
``data``: ``make_views`` augments on the CPU in a parallel ``map`` overlapped
with training by ``prefetch``; ``device``: ``make_views(...,
augment_on="device")`` only batches images and ``SimCLR(device_views=...)``
makes the views inside the compiled step.  The modes are timed in
interleaved rounds (``--rounds``) of ``--steps`` steps after ``--warmup``
untimed ones; the median step over all rounds is reported, and the ratio
device / data measured in the same run.

    python benchmarks/augment_on.py [--steps 12 --rounds 3] [--xla]

Prints one JSON line per mode and a Markdown table.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive import backbones, models, views  # noqa: E402
from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.pretraining import PRESETS  # noqa: E402
from timing import StepTimer, machine_description  # noqa: E402  (in benchmarks/)

MODES = ("data", "device")


def build(mode, args, channels):
    config = PRESETS["quality"]
    maker = views.ViewMaker(views.simclr_augment(
        28, channels=channels, strength=config.jitter_strength, crop_scale=config.crop_scale,
        grayscale_prob=0.0, seed=0))
    encoder = backbones.resnet18((28, 28, channels), width=args.width, stem=config.stem)
    model = models.SimCLR(encoder, projection_dim=config.projection_dim,
                          temperature=config.temperature,
                          device_views=maker if mode == "device" else None)
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9, weight_decay=5e-4),
                  jit_compile=args.xla)
    return model, maker


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--xla", action="store_true", help="compile(jit_compile=True)")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    images = load_fashion_mnist_arrays("train")[0]
    images = images[: args.batch_size * (args.steps + args.warmup) * 2]
    runs = {}
    for mode in MODES:
        model, maker = build(mode, args, images.shape[-1])
        data = views.make_views(tf.data.Dataset.from_tensor_slices(images), maker,
                                batch_size=args.batch_size, augment_on=mode).repeat()
        runs[mode] = (model, data, [])
    for _ in range(args.rounds):
        for mode in MODES:
            model, data, seconds = runs[mode]
            timer = StepTimer(args.warmup)
            model.fit(data, epochs=1, steps_per_epoch=args.steps + args.warmup, verbose=0,
                      callbacks=[timer])
            seconds.extend(timer.seconds)
    rows = {}
    for mode in MODES:
        step = float(np.median(runs[mode][2]))
        rows[mode] = {"kind": "augment_on", "mode": mode, "step_ms": round(1000 * step, 1),
                      "pairs_per_s": round(args.batch_size / step, 1),
                      "timed_steps": len(runs[mode][2]), "xla": args.xla,
                      "machine": machine_description(),
                      "devices": [d.device_type for d in tf.config.list_logical_devices()]}
        print(json.dumps(rows[mode]), flush=True)
    ratio = rows["device"]["step_ms"] / rows["data"]["step_ms"]
    print(json.dumps({"kind": "ratio", "device_over_data_step": round(ratio, 3)}))
    print("\n| augment_on | step ms (median) | pairs/s |\n|---|---|---|")
    for mode in MODES:
        print(f"| {mode} | {rows[mode]['step_ms']} | {rows[mode]['pairs_per_s']} |")
    print(f"\ndevice / data step time: {ratio:.3f}")


if __name__ == "__main__":
    main()
