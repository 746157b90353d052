"""The quality protocol with several seeds: mean ± sd, each seed against its own random init.

Every method runs its recipe's ``cpu_small`` preset (``recipes.preset_config``:
the Fashion-MNIST quality protocol of ``benchmarks/quality.py`` with the
method's own small-scale settings, e.g. a ViT for MAE and I-JEPA) at the same
epochs, batch and images, for every seed.  Each seed's encoder is scored by
kNN and the linear probe, and so is the same seed's random-init encoder (the
same architecture, the same weights the run started from).  One JSON line per
(method, seed) goes to ``--records`` as soon as it is done; a re-run with the
same file resumes (``seeded_comparison.run_arms``).

The tables: ``mean ± sd`` over the seeds with the gain over random init, and
for every method the claim "beats its own random init" under the library's
rule (the difference of the means beyond sd + sd, ``seeded_comparison.verdict``).

    python benchmarks/quality_seeds.py --methods npid,densecl,mae,ijepa \\
        --records benchmarks/results/quality_seeds.jsonl --out quality_seeds.md
    python benchmarks/quality_seeds.py --records ... --report-only
    python benchmarks/quality_seeds.py --records ... --report-only --compare leoclr_e2e>simclr

Arms are registered method names, or ``leoclr_e2e`` (SimCLR with the
original image as the anchor, ``LeOCLREndToEnd``); ``METHOD@EPOCHS`` is that
arm trained for ``EPOCHS`` instead of ``--epochs`` (the same images and seeds:
a comparison at equal compute, e.g. ``simclr@8`` against ``leoclr_e2e``, which
encodes 3 images a pair to SimCLR's 2):

    python benchmarks/quality_seeds.py --methods simclr@8 --records ...
    python benchmarks/quality_seeds.py --methods leoclr_e2e,simclr@8 --records ... \\
        --report-only --compare "simclr@8>leoclr_e2e,leoclr_e2e>simclr@8"
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_contrastive import recipes, seeded_comparison  # noqa: E402
from keras_contrastive.models.registry import method_names  # noqa: E402
from keras_contrastive.pretraining import PRESETS  # noqa: E402

METRICS = ["knn_acc", "linear_acc"]
NAMES = {"leoclr_e2e": "LeOCLR end-to-end"}


def arm(method):
    """The ``Arm`` of ``method``: its cpu_small preset's changes to the quality protocol
    (``METHOD@EPOCHS``: and ``EPOCHS`` epochs, named ``"<name> (EPOCHS epochs)"``)."""
    if "@" in method:
        method, epochs = method.split("@", 1)
        if not epochs.isdigit() or int(epochs) < 1:
            raise ValueError(f"METHOD@EPOCHS takes a positive whole number of epochs, "
                             f"got {epochs!r}.")
        base = arm(method)
        return seeded_comparison.Arm(f"{base.name} ({int(epochs)} epochs)",
                                     {**base.changes, "epochs": int(epochs)})
    if method == "leoclr_e2e":
        return seeded_comparison.Arm(NAMES[method], {"method": "simclr", "anchor": "original"})
    if method not in method_names():
        raise ValueError(f"unknown method {method!r}; choose from "
                         f"{sorted(method_names()) + sorted(NAMES)}.")
    base = PRESETS["quality"]
    config = recipes.preset_config(method, "cpu_small")
    changes = {field: getattr(config, field) for field in config.__dataclass_fields__
               if getattr(config, field) != getattr(base, field)}
    changes["method"] = method
    return seeded_comparison.Arm(method, changes)


def with_random_init(records, metrics=METRICS):
    """``records`` plus one pseudo-record per (arm, seed): that seed's random-init figures
    as the arm ``"<arm> at random init"``, so ``verdict`` can compare an arm with them."""
    out = list(records)
    for record in records:
        out.append({"arm": f"{record['arm']} at random init", "seed": record["seed"],
                    **{m: record[f"random_{m}"] for m in metrics if f"random_{m}" in record}})
    return out


def report(records, names, comparisons=()):
    """The summary and the claims' tables (markdown) of the arms ``names``: each arm
    against its random init, then each ``(better, worse)`` pair of ``comparisons``."""
    records = [r for r in records if r["arm"] in names]
    summary = seeded_comparison.format_summary(seeded_comparison.summarise(records, METRICS),
                                               METRICS)
    claims = [seeded_comparison.Claim(f"{name} beats its random init ({metric})", name,
                                      f"{name} at random init", metric)
              for name in names for metric in METRICS]
    claims += [seeded_comparison.Claim(f"{better} beats {worse} ({metric})", better, worse,
                                       metric)
               for better, worse in comparisons for metric in METRICS]
    verdicts = seeded_comparison.format_verdicts(with_random_init(records), claims)
    runs = sorted({(r["arm"], r["seed"]) for r in records}, key=str)
    return (f"{len(runs)} runs: " + ", ".join(f"{a} seed {s}" for a, s in runs)
            + f"\n\n{summary}\n\n{verdicts}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="simclr,moco_v2,byol,knn_moco,leoclr_e2e",
                        help="comma-separated registered methods (or leoclr_e2e)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-subset", type=int, default=10_000,
                        help="pretrain on the first N training images")
    parser.add_argument("--eval-train", type=int, default=None,
                        help="labelled training images of kNN / linear (default: all 60,000)")
    parser.add_argument("--eval-test", type=int, default=None,
                        help="test images (default: all 10,000)")
    parser.add_argument("--records", required=True, help="JSON lines, resumed if present")
    parser.add_argument("--out", default=None, help="write the tables (markdown) here")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--compare", default="",
                        help="comma-separated BETTER>WORSE pairs of methods, e.g. "
                             "leoclr_e2e>simclr: a claim each, with the same rule")
    args = parser.parse_args(argv)
    try:
        arms = [arm(m.strip()) for m in args.methods.split(",") if m.strip()]
        seeds = [int(s) for s in args.seeds.split(",")]
        comparisons = [tuple(arm(m.strip()).name for m in pair.split(">"))
                       for pair in args.compare.split(",") if pair.strip()]
    except ValueError as error:
        parser.error(str(error))
    names = [a.name for a in arms]
    for pair in comparisons:
        if len(pair) != 2 or not set(pair) <= set(names):
            parser.error(f"--compare takes BETTER>WORSE pairs of --methods; got {pair!r}")
    if args.report_only:
        records = seeded_comparison.read_records(args.records)
    else:
        from keras_contrastive.pretraining.run import evaluate

        base = PRESETS["quality"].replace(
            epochs=args.epochs, train_subset=args.train_subset,
            eval_train_subset=args.eval_train, eval_test_subset=args.eval_test)
        records = seeded_comparison.run_arms(base, arms, seeds, evaluate, args.records)
    tables = report([r for r in records if r["seed"] in seeds], names, comparisons)
    print("\n" + tables, flush=True)
    if args.out:
        with open(args.out, "w") as file:
            file.write(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
