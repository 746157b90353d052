"""GPU suite: SSL training steps against the supervised ResNet-50 step, on every
visible accelerator, in one command.

Each configuration -- a method (SimCLR, MoCo-v2, BYOL, DINO), a precision
(``float32``, ``mixed_float16``, ``mixed_bfloat16``), XLA off or on, and where
the views are made (``data``: ``make_views`` in tf.data on the CPU, overlapped by
``prefetch``; ``device``: the same ``ViewMaker`` inside the compiled step) -- is
built with the library's own builders (the method's ``--preset paper`` setup:
ResNet-50, ImageNet stem, 224 px, the paper's heads, optimizer and views, but
two global crops only: DINO's six local crops are off, so that every method
encodes 2B images per step of B pairs) under ``MirroredStrategy`` over all
devices, trained with ``model.fit`` and timed per step after ``--warmup``
untimed steps (the first one traces and compiles).  The baseline is the
library's ResNet-50 with a 1000-way softmax classifier (cross-entropy, SGD)
trained with ``fit`` on 2B fixed images per step: as many images as one SSL
step encodes, at the same precision and XLA setting.

Per configuration: median step time, images/s (images through the encoder's
trained forward pass per second: 2B for every method; BYOL and DINO also run a
momentum target on both views, MoCo-v2 its key encoder on one), the step-time
ratio to the supervised step, whether images/s is within 10 % of the
supervised step's (the goal; BYOL's extra target forward pass excepted),
peak device memory (``tf.config.experimental.get_memory_info``; ``n/a`` on
CPU), the first step's seconds (tracing and compilation), and the batch
used.  ``--batch_per_replica auto`` starts at ``--batch_start`` view pairs per
replica and halves it while a configuration runs out of device memory;
every ratio is against a supervised step timed at that same batch.

The images are random uint8 pixels (a fixed seed) at 224 px: throughput
only, no learning is measured; the augmentation's cost does not depend on
the pixels' content.  A configuration that fails records its error in its
row and the suite goes on.  After every row the JSON (``--out``) and the
Markdown table (``--out`` with ``.md``) are rewritten, so a run stopped by a
time limit keeps what it measured; ``--budget_s`` stops starting
configurations after that many seconds and records the rest as skipped.

    python benchmarks/gpu_suite.py --out benchmarks/results/gpu_suite_<device>.json
    python benchmarks/gpu_suite.py --smoke --out /tmp/gpu_suite_smoke.json  # CPU, tiny

``--smoke`` (CPU, tiny): ResNet-18 of width 4 at 32 px (a ResNet-50 traces
about twice as long), batch 4 pairs, 2 timed steps after 1 warm-up, the
quality protocol's heads, ``float32`` and ``mixed_bfloat16``, both
``augment_on`` modes, XLA off: on two CPU cores an XLA configuration spends
10-60 s compiling and SimCLR's and MoCo-v2's XLA steps then take seconds
each (``--xla on`` runs, slowly; BENCHMARKS.md, "GPU suite").  It proves the
suite runs, not how fast anything is.
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

from keras_contrastive import views  # noqa: E402
from keras_contrastive.models.registry import method_names  # noqa: E402
from keras_contrastive.pretraining import (  # noqa: E402
    PRESETS, build_augment, build_backbone, build_model, build_optimizer, build_view_maker)
from keras_contrastive.recipes import preset_config  # noqa: E402
from timing import StepTimer, machine_description  # noqa: E402  (in benchmarks/)

SUPERVISED = "supervised"
METHODS = ("simclr", "moco_v2", "byol", "dino")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
AUGMENT_ON = ("data", "device")
XLA = {"off": (False,), "on": (True,), "both": (False, True)}
CLASSES = 1000
GOAL = 0.9  # each SSL step's images/s at least 90 % of the supervised step's
GOAL_EXCEPTED = {"byol": "its momentum target's forward pass on both views is extra work"}
# --smoke: what the flags left at their defaults become
SMOKE = {"backbone": "resnet18", "image_size": 32, "width": 4, "batch_per_replica": "4",
         "steps": 2, "warmup": 1, "precisions": "float32,mixed_bfloat16", "xla": "off"}
FULL = {"backbone": "resnet50", "image_size": 224, "width": 64, "batch_per_replica": "auto",
        "steps": 20, "warmup": 3, "precisions": ",".join(PRECISIONS), "xla": "both"}


def parse_args(argv=None):
    """The suite's flags; ``--smoke`` fills the ones left unset with ``SMOKE``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated registered methods")
    parser.add_argument("--precisions", help=f"comma-separated, from {PRECISIONS}")
    parser.add_argument("--xla", choices=sorted(XLA), help="compile with jit_compile off, on "
                        "or both (True explicitly: 'auto' turns XLA off under a strategy)")
    parser.add_argument("--augment_on", default=",".join(AUGMENT_ON),
                        help="comma-separated, from data, device")
    parser.add_argument("--batch_per_replica", help="view pairs per replica (the supervised "
                        "step takes twice as many images), or 'auto': the fit search")
    parser.add_argument("--batch_start", type=int, default=256,
                        help="auto: the first batch per replica tried")
    parser.add_argument("--steps", type=int, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, help="untimed steps first (>= 1: compilation)")
    parser.add_argument("--backbone", choices=("resnet18", "resnet50", "small_cnn"),
                        help="small_cnn: the suite's path at the least tracing (tests)")
    parser.add_argument("--image_size", type=int)
    parser.add_argument("--width", type=int, help="ResNet width (64: the standard one)")
    parser.add_argument("--budget_s", type=float, default=0,
                        help="start no configuration after this many seconds (0: no limit)")
    parser.add_argument("--out", default="gpu_suite.json",
                        help="JSON path; the Markdown table goes beside it (.md)")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run: " + str(SMOKE))
    args = parser.parse_args(argv)
    for name, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    unknown = sorted(set(args.methods.split(",")) - set(method_names()))
    if unknown:
        parser.error(f"--methods: {unknown} are not registered methods {method_names()}")
    if args.warmup < 1:
        parser.error("--warmup must be >= 1 (the first step traces and compiles)")
    for name, allowed in (("precisions", PRECISIONS), ("augment_on", AUGMENT_ON)):
        bad = [v for v in getattr(args, name).split(",") if v not in allowed]
        if bad:
            parser.error(f"--{name}: {bad} not in {allowed}")
    if args.batch_per_replica != "auto" and not (args.batch_per_replica.isdigit()
                                                 and int(args.batch_per_replica) > 0):
        parser.error(f"--batch_per_replica must be 'auto' or a positive int, "
                     f"got {args.batch_per_replica!r}")
    return args


def method_config(method, args, global_batch, augment_on):
    """The method's ``PretrainConfig``: ``--preset paper`` at the suite's backbone,
    width and size, two global crops; ``--smoke``: the quality protocol's heads."""
    base = PRESETS["quality"].replace(method=method) if args.smoke else preset_config(
        method, "paper")
    return base.replace(backbone=args.backbone, stem="imagenet", width=args.width,
                        image_size=args.image_size, local_crops=0, batch_size=global_batch,
                        augment_on=augment_on)


def _is_out_of_memory(error):
    text = str(error)
    return (isinstance(error, tf.errors.ResourceExhaustedError) or "RESOURCE_EXHAUSTED" in text
            or "out of memory" in text.lower())


def _peak_memory_mib():
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return "n/a"
    return round(max(tf.config.experimental.get_memory_info(g.name.split("device:")[-1])["peak"]
                     for g in gpus) / 2 ** 20, 1)


def _reset_memory_stats():
    for gpu in tf.config.list_logical_devices("GPU"):
        tf.config.experimental.reset_memory_stats(gpu.name.split("device:")[-1])


def _supervised(args, strategy, pool, global_batch, xla):
    """The library's ResNet-50 + a softmax classifier on 2B fixed images per step."""
    n = 2 * global_batch
    labels = np.arange(n) % CLASSES
    data = (tf.data.Dataset.from_tensor_slices((pool[:n], labels))
            .map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).batch(n).cache().repeat())
    config = method_config("simclr", args, global_batch, "data")
    with strategy.scope():
        encoder = build_backbone(config, pool.shape[1:])
        model = keras.Sequential([encoder, keras.layers.Dense(CLASSES, dtype="float32")])
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=xla)
    return model, data


def _ssl(args, strategy, pool, global_batch, xla, method, augment_on):
    """``method`` as its ``--preset paper`` run builds it, on views of ``pool``."""
    config = method_config(method, args, global_batch, augment_on)
    size, channels = pool.shape[1], pool.shape[3]
    augment = build_augment(config, size, channels)
    with strategy.scope():
        model = build_model(config, (size, size, channels), len(pool))
    maker = build_view_maker(config, model, augment, size, channels)
    if augment_on == "device":
        model.device_views = maker
    data = views.make_views(tf.data.Dataset.from_tensor_slices(pool), maker,
                            batch_size=global_batch, seed=0, augment_on=augment_on,
                            indices=model.needs_indices).repeat()
    model.check_views(data)
    with strategy.scope():
        model.compile(optimizer=build_optimizer(config, steps_per_epoch=1000), jit_compile=xla)
    return model, data


def time_configuration(args, strategy, pool, setting, batch_per_replica):
    """Builds and times one configuration at ``batch_per_replica``; the keras
    session and the dtype policy are reset before and after."""
    method, precision, xla, augment_on = setting
    global_batch = batch_per_replica * strategy.num_replicas_in_sync
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        _reset_memory_stats()
        if method == SUPERVISED:
            model, data = _supervised(args, strategy, pool, global_batch, xla)
        else:
            model, data = _ssl(args, strategy, pool, global_batch, xla, method, augment_on)
        timer = StepTimer(args.warmup)
        model.fit(data, steps_per_epoch=args.warmup + args.steps, epochs=1, verbose=0,
                  shuffle=False, callbacks=[timer])
        step = float(np.median(timer.seconds))
        return {"step_ms": round(1000 * step, 2), "images_per_s": round(2 * global_batch / step, 1),
                "first_step_s": round(timer.first, 2), "peak_memory_mib": _peak_memory_mib(),
                "timed_steps": len(timer.seconds)}
    finally:
        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()


def fitted(args, strategy, pool, setting, start):
    """``time_configuration`` at ``start`` pairs per replica, halved on every
    out-of-memory error when ``--batch_per_replica auto``; returns
    ``(measures, batch_per_replica, out-of-memory batches tried)``."""
    batch, too_big = start, []
    while True:
        try:
            return time_configuration(args, strategy, pool, setting, batch), batch, too_big
        except Exception as error:  # noqa: BLE001 - the caller records any other error
            if args.batch_per_replica != "auto" or batch == 1 or not _is_out_of_memory(error):
                raise
            too_big.append(batch)
            batch //= 2


def _error_text(error):
    """The error's most telling line (XLA's unsupported op, an out-of-memory
    message), not the "Graph execution error:" header nor the stack."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if any(
        key in line for key in ("Detected unsupported", "RESOURCE_EXHAUSTED", "OOM",
                                "out of memory"))]
    others = [line for line in lines if not line.startswith(
        ("File ", "<stack", "Detected at node", "The op is created", "Graph execution error"))]
    return f"{type(error).__name__}: {(telling or others or [''])[0][:300]}"


def settings(args):
    """Every configuration, ``(method, precision, xla, augment_on)``, the
    supervised baseline of each precision and XLA arm first."""
    methods = args.methods.split(",")
    for precision in args.precisions.split(","):
        for xla in XLA[args.xla]:
            yield SUPERVISED, precision, xla, "n/a"
            for augment_on in args.augment_on.split(","):
                for method in methods:
                    yield method, precision, xla, augment_on


def markdown_table(suite, rows):
    """The rows as one Markdown table, under a line describing the run."""
    lines = [f"{suite['machine']}; {suite['replicas']} replica(s) ({suite['strategy']}), "
             f"{suite['backbone']} width {suite['width']} at {suite['image_size']} px, "
             f"random uint8 images; {suite['steps']} timed steps after {suite['warmup']}"
             f"{' (--smoke)' if suite['smoke'] else ''}", "",
             "| method | precision | XLA | augment_on | batch/replica (pairs) | step ms "
             "(median) | images/s | / supervised step | images/s >= 90 % of supervised "
             "| peak MiB | first step s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['method']} | {r['precision']} | {'on' if r['xla'] else 'off'} | " \
               f"{r['augment_on']} | {r.get('batch_per_replica', '')} |"
        if "error" in r or "skipped" in r:
            lines.append(f"{head} {r.get('error') or 'skipped: ' + r['skipped']} "
                         "| | | | | |")
            continue
        goal = r.get("goal_met", "")
        if r["method"] in GOAL_EXCEPTED and goal != "":
            goal = f"{goal} (excepted)"
        lines.append(f"{head} {r['step_ms']} | {r['images_per_s']} | "
                     f"{r.get('ratio_to_supervised', '')} | {goal} | "
                     f"{r['peak_memory_mib']} | {r['first_step_s']} |")
    return "\n".join(lines) + "\n"


def _write(path, suite, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    for target, text in ((path, json.dumps({"suite": suite, "rows": rows}, indent=1)),
                         (os.path.splitext(path)[0] + ".md", markdown_table(suite, rows))):
        with open(target + ".tmp", "w") as file:
            file.write(text)
        os.replace(target + ".tmp", target)


def main(argv=None):
    args = parse_args(argv)
    start_time = time.perf_counter()
    strategy = tf.distribute.MirroredStrategy()  # all GPUs, else the CPU
    replicas = strategy.num_replicas_in_sync
    first_batch = args.batch_start if args.batch_per_replica == "auto" else int(
        args.batch_per_replica)
    # 2B images per step of the largest batch (the supervised step's), fixed seed
    pool = np.random.default_rng(0).integers(
        0, 256, (2 * first_batch * replicas, args.image_size, args.image_size, 3), dtype="uint8")
    suite = {"machine": machine_description(), "replicas": replicas,
             "strategy": type(strategy).__name__, "backbone": args.backbone,
             "image_size": args.image_size, "width": args.width, "steps": args.steps,
             "warmup": args.warmup, "smoke": args.smoke,
             "batch_per_replica": args.batch_per_replica, "images": "random uint8 (seed 0)",
             "dino_local_crops": 0,
             "goal": f"images/s >= {GOAL:.0%} of the supervised step's at equal images per step",
             "goal_excepted": GOAL_EXCEPTED, "command": " ".join(sys.argv)}
    rows, baselines = [], {}  # (precision, xla, batch) -> supervised row
    for setting in settings(args):
        method, precision, xla, augment_on = setting
        row = {"method": method, "precision": precision, "xla": xla, "augment_on": augment_on}
        if args.budget_s and time.perf_counter() - start_time > args.budget_s:
            row["skipped"] = f"--budget_s {args.budget_s:g} spent"
        else:
            try:
                measures, batch, too_big = fitted(args, strategy, pool, setting, first_batch)
                row.update(measures, batch_per_replica=batch, out_of_memory_at=too_big)
            except Exception as error:  # noqa: BLE001 - recorded in the row
                row["error"] = _error_text(error)
        if method == SUPERVISED:
            if "step_ms" in row:
                baselines[(precision, xla, row["batch_per_replica"])] = row
        elif "step_ms" in row:
            key = (precision, xla, row["batch_per_replica"])
            if key not in baselines:  # the fit search ended below the baseline's batch
                extra = {"method": SUPERVISED, "precision": precision, "xla": xla,
                         "augment_on": "n/a", "batch_per_replica": key[2]}
                try:
                    extra.update(time_configuration(
                        args, strategy, pool, (SUPERVISED, precision, xla, "n/a"), key[2]))
                    baselines[key] = extra
                except Exception as error:  # noqa: BLE001
                    extra["error"] = _error_text(error)
                rows.append(extra)
            if key in baselines:
                base = baselines[key]
                row["ratio_to_supervised"] = round(row["step_ms"] / base["step_ms"], 3)
                row["goal_met"] = row["images_per_s"] >= GOAL * base["images_per_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
        _write(args.out, suite, rows)
    suite["wall_s"] = round(time.perf_counter() - start_time, 1)
    _write(args.out, suite, rows)
    print("\n" + markdown_table(suite, rows))
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
