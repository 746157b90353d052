"""Throughput benchmark: training-step speed of every method against a supervised step.

The quality protocol's setting (ResNet-18 ``width`` 16, CIFAR stem, 28x28x1
Fashion-MNIST, batch 256 view pairs, SGD), each method built exactly as
``keras_contrastive.pretraining.build_model`` builds it (the registered protocol), trained with
``model.fit`` on pre-computed views (so that augmentation is timed apart):

* ``step_ms``: median milliseconds of a ``fit`` step (B pairs = 2B images);
* ``ratio``: that over the median step of a **supervised** model (the same
  backbone + a linear classifier, cross-entropy) on the same 2B images in
  the same run -- the physical limit of what self-supervision can cost;
* ``pairs_per_s`` = B / step;
* the input pipeline (``make_views`` with the protocol's augmentation)
  in pairs/s, and its margin over the slowest step.

Methods are timed in interleaved rounds (``--rounds``), each round a short
``fit`` of ``--steps`` steps after warm-up, and the median over all timed
steps is reported, so that a noisy neighbour affects every method alike.

    python benchmarks/throughput.py [--methods simclr,moco_v2,byol] [--xla] \\
        [--policy mixed_bfloat16] [--steps 10 --rounds 3]

Prints one JSON object per line (``"kind": "step"`` or ``"pipeline"``) and
a Markdown table at the end.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive import backbones, views  # noqa: E402
from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.models.registry import method_names  # noqa: E402
from keras_contrastive.pretraining import PRESETS, build_model  # noqa: E402
from timing import StepTimer, machine_description  # noqa: E402  (in benchmarks/)

SUPERVISED = "supervised"


def _augment(config, original=False):
    return views.simclr_augment(
        28, channels=1, strength=config.jitter_strength,
        crop_scale=None if original else config.crop_scale, grayscale_prob=0.0,
        seed=config.seed + (100 if original else 0))


def _view_batches(images, config, n_batches, original, indices=False):
    """``n_batches`` batches of views, computed once and replayed (with each image's
    index for NPID's memory bank)."""
    data = views.make_views(tf.data.Dataset.from_tensor_slices(images), _augment(config),
                            batch_size=config.batch_size, seed=config.seed, indices=indices,
                            original_augment=_augment(config, True) if original else None)
    return data.take(n_batches).cache().repeat()


def _supervised(config, images, labels, jit):
    """Backbone + Dense(10) on 2B images per step (as many as one SSL step encodes)."""
    n = 2 * config.batch_size
    x = images[:n].astype("float32") / 255.0
    data = tf.data.Dataset.from_tensor_slices((x, labels[:n])).batch(n).cache().repeat()
    encoder = backbones.resnet18((28, 28, 1), width=config.width, stem=config.stem)
    model = keras.Sequential([encoder, keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    return model, data


def pipeline_pairs_per_s(images, config, batches=30, warmup=5):
    data = views.make_views(tf.data.Dataset.from_tensor_slices(images), _augment(config),
                            batch_size=config.batch_size, seed=config.seed)
    iterator = iter(data)
    for _ in range(warmup):  # fills the prefetch buffer too
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * config.batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="simclr,moco_v2,byol",
                        help=f"comma-separated, from {list(method_names())} or 'all'")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--xla", action="store_true", help="compile(jit_compile=True)")
    parser.add_argument("--policy", default="float32",
                        help="Keras dtype policy, e.g. mixed_float16 or mixed_bfloat16")
    parser.add_argument("--no-pipeline", action="store_true")
    args = parser.parse_args(argv)

    methods = list(method_names()) if args.methods == "all" else args.methods.split(",")
    keras.mixed_precision.set_global_policy(args.policy)
    config = PRESETS["quality"].replace(batch_size=args.batch_size, width=args.width)
    images, labels = load_fashion_mnist_arrays("train")
    per_round = args.warmup + args.steps

    runs = {}
    for name in [SUPERVISED] + methods:
        if name == SUPERVISED:
            model, data = _supervised(config, images, labels, args.xla)
        else:
            model = build_model(config.replace(method=name), (28, 28, 1), len(images))
            model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9),
                          jit_compile=args.xla)
            data = _view_batches(images, config, per_round, model.needs_original_view,
                                 model.needs_indices)
        runs[name] = (model, data, StepTimer(args.warmup))
        model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and compile
    for _ in range(args.rounds):
        for name, (model, data, timer) in runs.items():
            model.fit(data, steps_per_epoch=per_round, epochs=1, verbose=0, callbacks=[timer])

    machine = machine_description()
    base = float(np.median(runs[SUPERVISED][2].seconds))
    rows = []
    for name, (_, _, timer) in runs.items():
        step = float(np.median(timer.seconds))
        row = {"kind": "step", "method": name, "step_ms": round(1000 * step, 1),
               "ratio_to_supervised": round(step / base, 3),
               "pairs_per_s": round(args.batch_size / step, 1),
               "images_per_s": round(2 * args.batch_size / step, 1),
               "timed_steps": len(timer.seconds), "xla": args.xla, "policy": args.policy,
               "batch_size": args.batch_size, "width": args.width, "machine": machine}
        rows.append(row)
        print(json.dumps(row), flush=True)
    pipeline = None
    if not args.no_pipeline:
        pipeline = pipeline_pairs_per_s(images, config)
        slowest = min(r["pairs_per_s"] for r in rows if r["method"] != SUPERVISED)
        print(json.dumps({"kind": "pipeline", "pairs_per_s": round(pipeline, 1),
                          "over_slowest_step": round(pipeline / slowest, 2),
                          "machine": machine}), flush=True)

    print(f"\n{machine}; batch {args.batch_size} pairs, ResNet-18 width {args.width}, "
          f"XLA {'on' if args.xla else 'off'}, policy {args.policy}\n")
    print("| method | step (ms, median) | / supervised step on 2B images | pairs/s |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['step_ms']} | {r['ratio_to_supervised']} | "
              f"{r['pairs_per_s']} |")
    if pipeline:
        print(f"\ninput pipeline: {pipeline:.0f} pairs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
