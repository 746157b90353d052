"""What following EXIF orientation costs the exported ``serve_bytes`` signature.

Exports one tiny encoder twice in one process: as ``export_encoder`` writes
it (per image, the graph EXIF reader ``exif_orientation_tf``, the resize to
the turned proportions and the turn) and without an orientation
(``serve_bytes`` as it was before).  Times a call of each signature on the same batch of ``--batch``
JPEG files (``--size`` photos with an EXIF orientation tag, orientations
1-8 in turn), ``--rounds`` rounds with the two interleaved (and their order
alternated), after warm-up calls; reports the medians.  Also times the
reader alone on the batch and on a pathological file (``MAX_MARKER_STEPS``
fill bytes: the longest marker walk).

    python benchmarks/exif_serving_cost.py [--batch 32 --size 480,640 --rounds 30]

Prints one JSON line per variant and a Markdown table.
"""
import argparse
import json
import os
import platform
import struct
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive import export  # noqa: E402
from keras_contrastive.data.orientation import MAX_MARKER_STEPS, exif_orientation_tf  # noqa: E402


def jpeg_with_orientation(image, orientation):
    """JPEG bytes of ``image`` with an EXIF APP1 segment holding ``orientation``."""
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(
        ">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00" * 4
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    jpeg = tf.io.encode_jpeg(image, quality=90).numpy()
    return jpeg[:2] + app1 + jpeg[2:]


def median_ms(times):
    return round(1000 * float(np.median(times)), 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", default="480,640", help="height,width of the photos")
    parser.add_argument("--input", type=int, default=64, help="the encoder's input side")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    height, width = (int(n) for n in args.size.split(","))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height // 8, width // 8, 3)).astype(np.uint8)
    photo = tf.image.resize(base, (height, width)).numpy().astype(np.uint8)  # smooth: JPEG-like
    files = tf.constant([jpeg_with_orientation(photo, 1 + i % 8) for i in range(args.batch)])
    encoder = keras.Sequential([keras.Input((args.input, args.input, 3)),
                                keras.layers.Conv2D(8, 3, strides=2),
                                keras.layers.GlobalAveragePooling2D()])
    folder = tempfile.mkdtemp()
    with_exif = tf.saved_model.load(export.export_encoder(encoder, os.path.join(folder, "exif")))
    reader = export.exif_orientation_tf
    export.exif_orientation_tf = lambda data: None  # prepare_images(..., orientation=None)
    try:
        plain = tf.saved_model.load(export.export_encoder(encoder, os.path.join(folder, "plain")))
    finally:
        export.exif_orientation_tf = reader
    variants = {"serve_bytes, EXIF followed": with_exif.signatures["serve_bytes"],
                "serve_bytes, EXIF ignored (before)": plain.signatures["serve_bytes"]}
    outputs = {name: fn(image_bytes=files)["embedding"].numpy() for name, fn in variants.items()}
    turned = np.abs(np.subtract(*outputs.values())).max(axis=1)
    times = {name: [] for name in variants}
    for name, fn in variants.items():  # warm-up
        for _ in range(3):
            fn(image_bytes=files)
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        for name in order:
            start = time.perf_counter()
            variants[name](image_bytes=files)["embedding"].numpy()
            times[name].append(time.perf_counter() - start)
    reader = tf.function(lambda batch: tf.map_fn(exif_orientation_tf, batch,
                                                 fn_output_signature=tf.int32))
    worst = tf.constant([b"\xff\xd8" + b"\xff" * MAX_MARKER_STEPS + b"\xff\xd9"] * args.batch)
    reader_times = {"reader alone, the batch": [], "reader alone, worst-case files": []}
    for batch, name in ((files, "reader alone, the batch"),
                        (worst, "reader alone, worst-case files")):
        reader(batch)
        for _ in range(args.rounds):
            start = time.perf_counter()
            reader(batch).numpy()
            reader_times[name].append(time.perf_counter() - start)
    common = {"batch": args.batch, "photo": [height, width], "input": args.input,
              "rounds": args.rounds, "cpus": os.cpu_count(), "machine": platform.machine(),
              "load_avg_1min": round(os.getloadavg()[0], 2), "tensorflow": tf.__version__}
    results = {**times, **reader_times}
    for name, values in results.items():
        print(json.dumps({"variant": name, "median_ms": median_ms(values),
                          "min_ms": median_ms([min(values)]), "calls": len(values), **common}))
    print(f"\nembeddings differ (EXIF followed vs ignored) for {int((turned > 1e-6).sum())} "
          f"of {args.batch} files (orientations 2-8 move the pixels)\n")
    print(f"| variant (batch of {args.batch} JPEGs {height}x{width}) | median (ms) | min (ms) |")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {median_ms(values)} | {median_ms([min(values)])} |")
    names = list(times)
    extra = median_ms(times[names[0]]) - median_ms(times[names[1]])
    print(f"\nfollowing EXIF: {extra:+.2f} ms per batch of {args.batch} "
          f"({median_ms(times[names[0]]) / median_ms(times[names[1]]):.3f}x)")


if __name__ == "__main__":
    main()
