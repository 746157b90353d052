"""The ablation of "Revisiting Contrastive Methods..." (Van Gansbeke et al., Table 4) at small scale.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/revisiting_ablation.py --epochs 5

Each row adds one modification to MoCo-v2 and pretrains from scratch on the
same data with the library's quality protocol (ResNet-18 width 16 on
Fashion-MNIST, batch 256, SGD), then reports kNN and linear accuracy:

=====================  ===============================================================
row                    views / model
=====================  ===============================================================
MoCo                   2 crops (scale 0.2-1), key momentum 0.99
+ MC                   + 4 local crops (scale 0.05-0.14, 3/7 of the size: 12 px)
+ CC                   local crops constrained to overlap the key crop by >= 20 %
+ m                    key momentum lowered to --lower_momentum (paper: fewer
                       steps per image with more views)
+ A+                   strong policy (flip + RandAugment) on half the non-key views
+ kNN                  kNN-MoCo: nearest-neighbour loss (k=20, lambda=0.4)
=====================  ===============================================================

The paper pretrains for 200 epochs on COCO and reports transfer results;
this recipe tests the design, not the numbers (record what it measures in
BENCHMARKS.md, whatever the outcome).  Prints a markdown table and writes it
to ``--out`` when given.
"""
from absl import flags

from keras_contrastive import recipes

LOWER_MOMENTUM = 0.98  # the default key momentum of the '+ m' rows


def rows(lower_momentum=LOWER_MOMENTUM):
    """(name, PretrainConfig changes): each row adds one modification."""
    mc = {"local_crops": 4}
    cc = {**mc, "min_overlap": 0.2}
    m = {**cc, "key_momentum": lower_momentum}
    a_plus = {**m, "stronger": True}
    return [("MoCo", {"method": "moco_v2"}), ("+ MC", {"method": "moco_v2", **mc}),
            ("+ CC", {"method": "moco_v2", **cc}), ("+ m", {"method": "moco_v2", **m}),
            ("+ A+", {"method": "moco_v2", **a_plus}), ("+ kNN", {"method": "knn_moco", **a_plus})]


ROW_NAMES = [name for name, _ in rows()]


def _wanted(value):
    """The row names --rows asks for (all of them for 'all')."""
    return set(ROW_NAMES) if value == "all" else {r.strip() for r in value.split(",")}


def define_flags(flag_values=None):
    """The comparison flags, ``--lower_momentum`` and ``--rows`` (once: a notebook may
    re-run the cell)."""
    flag_values = flags.FLAGS if flag_values is None else flag_values
    recipes.define_comparison_flags(flag_values)
    if "rows" in flag_values:
        return
    flags.DEFINE_float("lower_momentum", LOWER_MOMENTUM, "key momentum of the '+ m' rows",
                       flag_values=flag_values)
    flags.DEFINE_string("rows", "all", "comma-separated row names to run (default: all)",
                        flag_values=flag_values)
    flags.register_validator(
        "rows", lambda value: _wanted(value) <= set(ROW_NAMES),
        message=f"--rows takes 'all' or a comma-separated list of {ROW_NAMES}",
        flag_values=flag_values)


def run(values):
    """Trains the rows ``values.rows`` asks for and writes the table; ``values``: parsed flags."""
    from keras_contrastive.pretraining import pretrain

    base = recipes.comparison_config(values)
    every_row = rows(values.lower_momentum)
    wanted = _wanted(values.rows)
    table = ["| row | kNN acc | linear acc | view pairs/s |", "|---|---|---|---|"]
    results = []
    random_init = None
    for name, changes in every_row:
        if name not in wanted:
            continue
        print(f"\n=== {name}: {changes}", flush=True)
        result = pretrain(base.replace(**changes), verbose=2,
                          evaluate_random_init=random_init is None)
        m = result.metrics
        if random_init is None:
            random_init = (m["random_knn_acc"], m["random_linear_acc"])
            table.insert(2, f"| random init | {random_init[0]:.4f} | {random_init[1]:.4f} | - |")
        table.append(f"| {name} | {m['knn_acc']:.4f} | {m['linear_acc']:.4f} | "
                     f"{result.pairs_per_s:.1f} |")
        results.append({"row": name, **changes, "pairs_per_s": result.pairs_per_s,
                        "knn_acc": m["knn_acc"], "linear_acc": m["linear_acc"]})
    recipes.write_comparison(table, results, values.out)
    return 0


def main(argv):
    del argv
    return run(flags.FLAGS)


if __name__ == "__main__":  # a script, or a notebook cell
    define_flags()
    recipes.run_script(main, "revisiting_ablation")
