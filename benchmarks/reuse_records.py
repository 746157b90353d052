"""Reuse another experiment's runs of the same configuration as an arm's seeds.

Two recipes sometimes train the very same arm: experiment 4's "IoU any" at 4x
the steps is experiment 2's "MoCo" at 4x, the same ``PretrainConfig``.  Instead
of training it again, copy its records, but only where that is shown to be
the same run:

- every copied record's ``config`` equals the target arm's ``config`` (seed
  aside), and
- on every seed both files hold, the two records' figures are equal to the
  last digit (the same encoder was trained twice).

    python benchmarks/reuse_records.py \\
        --source benchmarks/results/scenes/iou_4x_2026-12-06.jsonl --source-arm "IoU any" \\
        --target benchmarks/results/scenes/revisiting_4x_2026-12-06.jsonl --target-arm MoCo \\
        --out benchmarks/results/scenes/revisiting_4x_report_2026-12-06.jsonl

The output holds the target's records, then the copies (the seeds the target
lacks), each with ``"copied_from"`` naming its file and arm; figures the source
did not measure (``None``) are left out of a copy.  Report it with the
recipe's ``--report_only --records OUT``.
"""
import argparse
import json
import os

from keras_contrastive.seeded_comparison import read_records

#: what a run records about its own process, not about the encoder it trained
_PROCESS_FIELDS = {"arm", "seed", "seconds", "train_seconds", "pairs_per_s", "copied_from"}


def _without_seed(config):
    return {key: value for key, value in config.items() if key != "seed"}


def reuse(source, source_arm, target, target_arm, source_name=None):
    """``target`` plus copies of ``source``'s ``source_arm`` records as ``target_arm``
    for the seeds ``target`` lacks; raises ``ValueError`` where the two are not shown
    to be the same run (see the module's docstring)."""
    mine = {r["seed"]: r for r in target if r["arm"] == target_arm}
    theirs = {r["seed"]: r for r in source if r["arm"] == source_arm}
    if not mine or not theirs:
        raise ValueError(f"no {target_arm!r} records in the target or no {source_arm!r} "
                         "records in the source")
    shared = sorted(set(mine) & set(theirs))
    if not shared:
        raise ValueError("no seed in both files: nothing shows the two arms are the same run")
    reference = _without_seed(next(iter(mine.values()))["config"])
    for seed, record in theirs.items():
        if _without_seed(record["config"]) != reference:
            raise ValueError(f"seed {seed}: the config of {source_arm!r} differs from "
                             f"that of {target_arm!r}")
    for seed in shared:
        a, b = mine[seed], theirs[seed]
        differing = [key for key in set(a) & set(b) - _PROCESS_FIELDS
                     if a[key] is not None and b[key] is not None and a[key] != b[key]]
        if differing:
            raise ValueError(f"seed {seed}: the two runs differ in {sorted(differing)}")
    copies = []
    for seed in sorted(set(theirs) - set(mine)):
        record = {key: value for key, value in theirs[seed].items() if value is not None}
        record.update(arm=target_arm, copied_from=f"{source_name or 'source'}, arm {source_arm!r}")
        copies.append(record)
    return list(target) + copies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--source-arm", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--target-arm", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    for path in (args.source, args.target):
        if not os.path.exists(path):
            raise FileNotFoundError(f"no records at {path!r}")
    records = reuse(read_records(args.source), args.source_arm, read_records(args.target),
                    args.target_arm, source_name=os.path.basename(args.source))
    with open(args.out, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    copied = [r["seed"] for r in records if "copied_from" in r]
    print(f"{args.out}: {len(records)} records, {args.target_arm!r} seeds {copied} copied from "
          f"{args.source} ({args.source_arm!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
