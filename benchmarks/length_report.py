"""Two lengths of the same arms in one report: each arm at both lengths against its
seed's random init, and the longer run against the shorter by the same rule.

The momentum methods' diagnosis (BENCHMARKS.md): the headline records (10,000
images x 5 epochs, 195 steps) and the same methods, seeds and evaluation on all
60,000 images (1,170 steps).  A seed's random-init encoder is the same in both
files (refused otherwise), so each seed is its own baseline at both lengths.

    python benchmarks/length_report.py \\
        benchmarks/results/quality_seeds_headline_2026-12-05.jsonl \\
        benchmarks/results/quality_seeds_momentum_60k_2026-12-06.jsonl \\
        --methods moco_v2,byol,knn_moco --label "60,000 images"
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality_seeds  # noqa: E402
from keras_contrastive import seeded_comparison  # noqa: E402


def merged(short, long, methods, label):
    """The records of ``methods`` from both lists, the longer runs' arms renamed
    ``"<arm> (<label>)"``; a seed whose random-init figures differ between the two is
    refused (the two lengths must start from the same encoder)."""
    first = [r for r in short if r["arm"] in methods]
    start = {(r["arm"], r["seed"]): r for r in first}
    second = []
    for record in (r for r in long if r["arm"] in methods):
        before = start.get((record["arm"], record["seed"]), {})
        for key in (k for k in record if k.startswith("random_") and k in before):
            if record[key] != before[key]:
                raise ValueError(f"{record['arm']} seed {record['seed']}: {key} is "
                                 f"{record[key]} in the longer run and {before[key]} in the "
                                 "shorter; the two lengths must start from the same random init")
        second.append({**record, "arm": f"{record['arm']} ({label})"})
    return first + second


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("short", help="records of the shorter runs (JSON lines)")
    parser.add_argument("long", help="records of the longer runs (JSON lines)")
    parser.add_argument("--methods", default="moco_v2,byol,knn_moco")
    parser.add_argument("--label", default="60,000 images",
                        help="names the longer runs' arms")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    records = merged(seeded_comparison.read_records(args.short),
                     seeded_comparison.read_records(args.long), methods, args.label)
    names = [name for m in methods for name in (m, f"{m} ({args.label})")]
    print(quality_seeds.report(records, names, [(f"{m} ({args.label})", m) for m in methods]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
