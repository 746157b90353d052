"""Time to the end of ``fit``'s first step: the optimizer built before the trace or inside it.

Without a distribution strategy, Keras builds the optimizer's slots (SGD
momentum, Adam moments...) inside the first trace of the train step.
Variables created there make ``tf.function`` trace the whole step a second
time.  ``ContrastiveModel`` builds them before the trace (its
``_maybe_symbolic_build``), so the step is traced once.  This script times
``model.fit`` on one batch, which is almost all tracing, for fresh models
built both ways ("Keras' deferred build" calls Keras' own
``_maybe_symbolic_build``, as before the change) and counts the traces.
Each ``--rounds`` round builds, compiles and fits one model per method and
way, interleaved; the table gives the medians and their ratio.

    python benchmarks/first_step.py [--methods simclr,moco_v2,byol,dino --rounds 3]

Prints one JSON line per method and way, and a Markdown table.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer  # noqa: E402

from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.pretraining import PretrainConfig, build_model  # noqa: E402

WAYS = ("Keras' deferred build", "built before the trace (library)")


def _views(images, original):
    x = images.astype("float32") / 255.0
    out = {"global": (x[:, :, ::-1, :], x)}
    if original:
        out["original"] = x
    return out


def time_first_fit(method, way, images, batch_size, width):
    keras.utils.set_random_seed(0)
    model = build_model(PretrainConfig(method=method, batch_size=batch_size, width=width),
                        (28, 28, 1))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    cls = type(model)
    real = cls.compute_objective
    traces = []

    def counted(self, *args, **kwargs):
        traces.append(1)
        return real(self, *args, **kwargs)

    cls.compute_objective = counted
    if way == WAYS[0]:
        cls._maybe_symbolic_build = TensorFlowTrainer._maybe_symbolic_build
    data = tf.data.Dataset.from_tensor_slices(_views(images[:batch_size],
                                                     model.needs_original_view))
    try:
        start = time.perf_counter()
        model.fit(data.batch(batch_size), epochs=1, verbose=0)
        seconds = time.perf_counter() - start
    finally:
        cls.compute_objective = real
        if way == WAYS[0]:
            del cls._maybe_symbolic_build  # back to the inherited library override
    return seconds, len(traces)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="simclr,moco_v2,byol,dino")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=16, help="ResNet-18 width")
    args = parser.parse_args()
    images, _ = load_fashion_mnist_arrays("train")
    methods = args.methods.split(",")
    times = {(m, w): [] for m in methods for w in WAYS}
    traces = {}
    for _ in range(args.rounds):
        for method in methods:
            for way in WAYS:
                seconds, count = time_first_fit(method, way, images, args.batch_size, args.width)
                times[method, way].append(seconds)
                traces[method, way] = count
    rows = []
    for method in methods:
        medians = [statistics.median(times[method, w]) for w in WAYS]
        for way, median in zip(WAYS, medians):
            print(json.dumps({"method": method, "way": way, "median_s": round(median, 2),
                              "seconds": [round(s, 2) for s in times[method, way]],
                              "traces": traces[method, way]}))
        rows.append(f"| {method} | {medians[0]:.1f} ({traces[method, WAYS[0]]}) | "
                    f"{medians[1]:.1f} ({traces[method, WAYS[1]]}) | "
                    f"{medians[0] / medians[1]:.2f} |")
    print(f"\n| method | {WAYS[0]}: s (traces) | {WAYS[1]}: s (traces) | ratio |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
