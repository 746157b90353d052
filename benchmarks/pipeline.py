"""View pairs/s from a folder of real JPEG photos: decode-then-crop against
fused decode-and-crop.

The folder is made from the real photos the installed packages ship
(scikit-learn's ``china.jpg`` and ``flower.jpg``, 427x640, and matplotlib's
``grace_hopper.jpg``, 600x512; scikit-image is not installed here): ``--files``
JPEGs (quality 90), each a random part of one photo (a quarter to all of its
area, aspect ratio 3/4-4/3, flipped at random) resized so that each side lies
in 224-500 px, in one class folder per source photo.

Both pipelines make SimCLR views at ``--size`` px (``simclr_augment(size,
blur_prob=0.5)``: random resized crop, flip, colour jitter, grey, blur), from
the same folder, files shuffled, nothing cached:

* ``decode_then_crop`` (today): ``from_directory(path, image_size=size)``
  (``from_scan`` of one scan shared by both)
  decodes each file whole and resizes it to ``size`` x ``size`` (the images
  differ in size), then ``make_views`` crops the resized image twice;
* ``fused_decode``: ``from_directory(path, encoded=True)`` then
  ``make_views(..., fused_decode=True)``: two boxes drawn on the file's own
  size, each decoded alone by ``tf.image.decode_and_crop_jpeg``.

(The fused crops come from the photo at its own size and aspect ratio, as the
official SimCLR input; today's come from the photo squashed to a square.)

The same two with the random resized crop alone (``crop only``: no flip,
colour or blur) time the decode-and-crop stage by itself.

Each round times ``--batches`` batches of ``--batch`` pairs on a fresh
iterator after ``--warmup`` batches, for each pipeline in turn (the order
alternates between rounds); the medians over ``--rounds`` rounds are reported.
With ``--peer-python`` (the python of a virtual environment holding torch and
torchvision), the peer ``benchmarks/pipeline_peer_torch.py`` (torchvision's
``ImageFolder`` with SimCLR's transforms, and with the crop alone, through a
``DataLoader`` of ``--workers`` workers, default the core count) is timed in
the same rounds, interleaved with ours, on the same folder and cores.

    python benchmarks/pipeline.py [--files 2000 --size 224 --rounds 5 --log FILE]
                                  [--peer-python /tmp/torchvenv/bin/python]

Prints one JSON line per round and pipeline and a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import machine_description  # noqa: E402

from keras_contrastive.data.directory import from_scan, scan_image_directory  # noqa: E402
from keras_contrastive.views import make_views, simclr_augment  # noqa: E402


def source_photos():
    """``{name: path}`` of the real photos shipped by scikit-learn and matplotlib."""
    sk = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    mpl = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data")
    return {"china": os.path.join(sk, "china.jpg"), "flower": os.path.join(sk, "flower.jpg"),
            "grace_hopper": os.path.join(mpl, "grace_hopper.jpg")}


def make_folder(root, count, seed=0):
    """Writes ``count`` JPEGs of 224-500 px cut from the source photos under ``root``."""
    rng = np.random.default_rng(seed)
    photos = {name: tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
              for name, path in source_photos().items()}
    names = sorted(photos)
    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    for index in range(count):
        name = names[index % len(names)]
        photo = photos[name]
        height, width = int(photo.shape[0]), int(photo.shape[1])
        ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
        area = rng.uniform(0.25, 1.0) * height * width
        h = int(min(height, round(np.sqrt(area / ratio))))
        w = int(min(width, round(np.sqrt(area * ratio))))
        y0, x0 = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        part = photo[y0:y0 + h, x0:x0 + w]
        if rng.random() < 0.5:
            part = part[:, ::-1]
        side = rng.uniform(224, 500)
        scale = side / max(h, w)
        out_h = int(np.clip(round(h * scale), 224, 500))
        out_w = int(np.clip(round(w * scale), 224, 500))
        image = tf.cast(tf.round(tf.clip_by_value(tf.image.resize(
            part, (out_h, out_w), antialias=True), 0, 255)), tf.uint8)
        tf.io.write_file(os.path.join(root, name, f"{index:05d}.jpg"),
                         tf.io.encode_jpeg(image, quality=90))


def pipelines(root, size, batch, shuffle_buffer):
    """``{name: dataset of view pairs}``: the two pipelines with SimCLR's views,
    and with the random resized crop alone (the decode-and-crop stage)."""
    def simclr():
        return simclr_augment(size, blur_prob=0.5, seed=0)

    def crop_only():
        return simclr_augment(size, strength=0.0, grayscale_prob=0.0, flip=False, seed=0)

    common = dict(batch_size=batch, shuffle_buffer=shuffle_buffer, cache=False)
    scan = scan_image_directory(root)  # one scan (it decodes every file once) for both
    today = from_scan(scan, image_size=size, shuffle_files=True, seed=0)
    fused = from_scan(scan, encoded=True, shuffle_files=True, seed=0)
    return {
        "decode_then_crop": make_views(today, simclr(), **common).repeat(),
        "fused_decode": make_views(fused, simclr(), fused_decode=True, **common).repeat(),
        "decode_then_crop, crop only": make_views(today, crop_only(), **common).repeat(),
        "fused_decode, crop only": make_views(fused, crop_only(), fused_decode=True,
                                              **common).repeat(),
    }


def time_round(dataset, warmup, batches):
    """Seconds for ``batches`` batches of a fresh iterator, after ``warmup``
    (its buffers start empty: no batch is made ahead during another's round)."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    batch["global"][1].numpy()
    seconds = time.perf_counter() - start
    del iterator
    return seconds


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--shuffle-buffer", type=int, default=256)
    parser.add_argument("--folder", help="reuse (or make) the JPEG folder here")
    parser.add_argument("--log", help="also append the output to this file")
    parser.add_argument("--peer-python", help="python with torch + torchvision: time the peer")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="the peer's DataLoader workers")
    args = parser.parse_args(argv)
    lines = []

    def emit(text):
        print(text, flush=True)
        lines.append(text)

    root = args.folder or tempfile.mkdtemp(prefix="pipeline_jpegs_")
    start = time.perf_counter()
    if not any(name.endswith(".jpg") for _, _, names in os.walk(root) for name in names):
        make_folder(root, args.files)
    sizes = [os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(root) for n in ns]
    emit(json.dumps({"command": "python benchmarks/pipeline.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "commit": commit(),
        "machine": machine_description(), "load_before": os.getloadavg(),
        "files": len(sizes), "mean_kb": round(np.mean(sizes) / 1024, 1),
        "folder_seconds": round(time.perf_counter() - start, 1)}))
    datasets = pipelines(root, args.size, args.batch, args.shuffle_buffer)
    peer = None
    if args.peer_python:
        peer = subprocess.Popen(
            [args.peer_python, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "pipeline_peer_torch.py"), root,
             "--size", str(args.size), "--batch", str(args.batch), "--batches",
             str(args.batches), "--warmup", str(args.warmup), "--workers", str(args.workers)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        emit(peer.stdout.readline().strip())
        for mode in ("simclr", "crop_only"):
            datasets[f"torchvision peer, {mode.replace('_', ' ')}"] = mode

    def measure(name):
        if isinstance(datasets[name], str):  # the peer, in its process
            peer.stdin.write(datasets[name] + "\n")
            peer.stdin.flush()
            return json.loads(peer.stdout.readline())["pairs_per_s"]
        return args.batches * args.batch / time_round(datasets[name], args.warmup,
                                                      args.batches)

    rates = {name: [] for name in datasets}
    for round_index in range(args.rounds):
        order = list(datasets) if round_index % 2 == 0 else list(datasets)[::-1]
        for name in order:
            rate = measure(name)
            rates[name].append(rate)
            emit(json.dumps({"round": round_index, "pipeline": name,
                             "pairs_per_s": round(rate, 1), "load": os.getloadavg()[0]}))
    emit(f"\n| pipeline ({args.size} px, batch {args.batch}) | view pairs/s (median of "
         f"{args.rounds}) | per core | vs decode-then-crop |")
    emit("|---|---|---|---|")
    for name, values in rates.items():
        median = float(np.median(values))
        base = float(np.median(rates[name.replace("fused_decode", "decode_then_crop").replace(
            "torchvision peer, simclr", "decode_then_crop").replace(
            "torchvision peer, crop only", "decode_then_crop, crop only")]))
        emit(f"| {name} | {median:.1f} | {median / os.cpu_count():.1f} | "
             f"{median / base:.2f}x |")
    emit(f"load average after: {os.getloadavg()}")
    if peer is not None:
        peer.stdin.close()
        peer.wait()
    if args.log:
        with open(args.log, "a") as stream:
            stream.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
