"""Short pretraining runs over a grid of settings, scored by kNN accuracy.

How the demo preset and the protocol's temperature were chosen::

    python benchmarks/sweep.py --base demo \
        '{"width": 16, "train_subset": 20000, "temperature": 0.5}' \
        '{"width": 16, "train_subset": 20000, "temperature": 0.1}'

Each positional argument is a JSON dict of ``PretrainConfig`` overrides on
top of ``--base``; add ``"random": true`` to also score the encoder at random
init.  Prints one JSON line per run (``RESULT {...}``): the overrides, kNN
accuracy (k=200, T=0.1) on the preset's evaluation subsets, the last epoch's
loss and the run's wall time.  Only kNN is scored (the linear probe is the
slow part of evaluation).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_contrastive.evaluation import knn_accuracy  # noqa: E402
from keras_contrastive.pretraining import PRESETS, pretrain  # noqa: E402


def knn_only(encoder, train, test, config):
    return {"knn_acc": knn_accuracy(encoder, train, test, k=config.knn_k,
                                    temperature=config.knn_temperature)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=sorted(PRESETS), default="demo")
    parser.add_argument("runs", nargs="+", help="JSON dicts of PretrainConfig overrides")
    args = parser.parse_args()
    for run in args.runs:
        overrides = json.loads(run)
        score_random = bool(overrides.pop("random", False))
        config = PRESETS[args.base].replace(**overrides)
        start = time.perf_counter()
        result = pretrain(config, verbose=2, evaluate_random_init=score_random,
                          evaluator=knn_only)
        print("RESULT", json.dumps({
            **overrides, **result.metrics, "loss": round(result.history["loss"][-1], 4),
            "pairs_per_s": round(result.pairs_per_s, 1),
            "seconds": round(time.perf_counter() - start),
        }), flush=True)


if __name__ == "__main__":
    main()
