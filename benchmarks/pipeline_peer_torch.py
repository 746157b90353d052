"""The torchvision peer of ``benchmarks/pipeline.py``: ``ImageFolder`` with
SimCLR's transforms (lightly's ``SimCLRTransform`` defaults, written with
torchvision: random resized crop, flip, colour jitter 0.8/0.8/0.8/0.2 with
p 0.8, grey p 0.2, Gaussian blur of a 10 % kernel with sigma 0.1-2 and p 0.5;
no normalisation, as our views) through a ``DataLoader``.

Runs in its own virtual environment (torch is not a dependency of the
package); ``pipeline.py --peer-python VENV/bin/python`` starts it once and
sends one line per round on stdin: ``simclr`` or ``crop_only``; it answers
one JSON line with the round's pairs/s (fresh iterator, ``--warmup`` batches
left out, then ``--batches`` timed).

    VENV/bin/python benchmarks/pipeline_peer_torch.py FOLDER [--size 224 --workers 2]
"""
import argparse
import json
import sys
import time

import types

import torch

try:
    import torchvision
except RuntimeError:  # its compiled ops missing (a CUDA build beside torch+cpu): stub them
    # only the detection ops (nms, roi_align...) live there; ImageFolder and the
    # transforms used here are Python, PIL and torch
    for name in list(sys.modules):
        if name.startswith("torchvision"):
            del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType(
        "torchvision._meta_registrations")
    import torchvision
from torchvision import transforms as T  # noqa: E402


class TwoViews:
    """Two independent draws of a transform: a positive pair."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image):
        return self.transform(image), self.transform(image)


def transform(mode, size):
    """SimCLR's views (``simclr``) or the random resized crop alone (``crop_only``)."""
    crop = T.RandomResizedCrop(size, scale=(0.08, 1.0))
    if mode == "crop_only":
        return T.Compose([crop, T.ToTensor()])
    kernel = max(3, (size // 10) | 1)
    return T.Compose([
        crop,
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5),
        T.ToTensor(),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    loaders = {mode: torch.utils.data.DataLoader(
        torchvision.datasets.ImageFolder(args.folder, transform=TwoViews(
            transform(mode, args.size))),
        batch_size=args.batch, shuffle=True, num_workers=args.workers, drop_last=True)
        for mode in ("simclr", "crop_only")}
    print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__,
                      "torchvision_ops": bool(torchvision.extension._has_ops()),
                      "workers": args.workers, "threads": torch.get_num_threads()}),
          flush=True)
    for line in sys.stdin:
        mode = line.strip()
        iterator = iter(loaders[mode])
        for _ in range(args.warmup):
            next(iterator)
        start = time.perf_counter()
        for _ in range(args.batches):
            next(iterator)
        seconds = time.perf_counter() - start
        del iterator
        print(json.dumps({"mode": mode, "pairs_per_s": args.batches * args.batch / seconds}),
              flush=True)


if __name__ == "__main__":
    main()
