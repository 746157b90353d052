"""``benchmarks/quality_seeds.py`` (and ``length_report.py``): the arms it builds and the
verdicts it writes, on records (its training is ``seeded_comparison.run_arms``, tested in
tests/recipes)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import length_report  # noqa: E402
import quality_seeds  # noqa: E402

from keras_contrastive import recipes  # noqa: E402
from keras_contrastive.pretraining import PRESETS  # noqa: E402


@pytest.mark.parametrize("method", ["simclr", "mae", "ijepa", "npid"])
def test_an_arm_is_its_recipes_cpu_small_preset(method):
    arm = quality_seeds.arm(method)
    assert arm.name == method and arm.changes["method"] == method
    assert PRESETS["quality"].replace(**arm.changes) == recipes.preset_config(method, "cpu_small")


def test_leoclr_end_to_end_is_simclr_with_the_original_anchor_and_unknown_names_are_refused():
    arm = quality_seeds.arm("leoclr_e2e")
    assert arm.name == "LeOCLR end-to-end"
    assert arm.changes == {"method": "simclr", "anchor": "original"}
    with pytest.raises(ValueError, match="unknown method 'simclr2'"):
        quality_seeds.arm("simclr2")


def test_an_arm_at_other_epochs_is_the_same_arm_trained_longer():
    arm = quality_seeds.arm("simclr@8")
    assert arm.name == "simclr (8 epochs)"
    assert arm.changes == {**quality_seeds.arm("simclr").changes, "epochs": 8}
    assert quality_seeds.arm("leoclr_e2e@7").name == "LeOCLR end-to-end (7 epochs)"
    for bad in ("simclr@", "simclr@1.5", "simclr@0"):
        with pytest.raises(ValueError, match="METHOD@EPOCHS takes a positive whole number"):
            quality_seeds.arm(bad)


def _records(gains, random_level=0.70):
    """One arm, three seeds: each seed's random init at its own level, the run ``gain`` above."""
    return [{"arm": "m", "seed": seed, "knn_acc": random_level + 0.01 * seed + gain,
             "random_knn_acc": random_level + 0.01 * seed, "linear_acc": 0.8,
             "random_linear_acc": 0.8} for seed, gain in enumerate(gains)]


@pytest.mark.parametrize("gains,expected", [((0.05, 0.06, 0.05), "reproduced"),
                                            ((-0.05, -0.06, -0.05), "contradicted"),
                                            ((0.01, -0.01, 0.0), "inconclusive")])
def test_each_arm_is_judged_against_its_own_seeds_random_init(gains, expected):
    table = quality_seeds.report(_records(gains), ["m"])
    line = next(row for row in table.splitlines() if "m beats its random init (knn_acc)" in row)
    assert line.rstrip(" |").endswith(expected), line
    assert "| m | 3 |" in table


def test_the_main_flags_refuse_an_unknown_method_before_training(capsys):
    with pytest.raises(SystemExit):
        quality_seeds.main(["--methods", "simclr,nope", "--records", "/nonexistent/r.jsonl"])
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_a_comparison_between_arms_is_judged_by_the_same_rule(tmp_path, capsys):
    better = _records((0.05, 0.06, 0.05))
    records = better + [{**r, "arm": "simclr", "knn_acc": r["knn_acc"] - 0.04} for r in better]
    table = quality_seeds.report(records, ["m", "simclr"], [("m", "simclr")])
    line = next(row for row in table.splitlines() if "m beats simclr (knn_acc)" in row)
    assert "+0.0400" in line and line.rstrip(" |").endswith("reproduced"), line
    # the flag: pairs of --methods only, refused before any training
    with pytest.raises(SystemExit):
        quality_seeds.main(["--methods", "simclr,byol", "--compare", "leoclr_e2e>simclr",
                            "--records", str(tmp_path / "r.jsonl")])
    assert "--compare takes BETTER>WORSE pairs of --methods" in capsys.readouterr().err


def test_two_lengths_are_judged_against_the_same_random_init(tmp_path):
    short = _records((-0.01, 0.0, -0.02))
    long = [{**r, "knn_acc": r["knn_acc"] + 0.05} for r in short]
    table = quality_seeds.report(length_report.merged(short, long, ["m"], "6x"),
                                 ["m", "m (6x)"], [("m (6x)", "m")])
    line = next(row for row in table.splitlines() if "m (6x) beats m (knn_acc)" in row)
    assert "+0.0500" in line and line.rstrip(" |").endswith("reproduced"), line
    line = next(row for row in table.splitlines() if "m beats its random init (knn_acc)" in row)
    assert not line.rstrip(" |").endswith("reproduced"), line
    # the two lengths must start from the same encoder
    other = [{**r, "random_knn_acc": r["random_knn_acc"] + 0.01} for r in long]
    with pytest.raises(ValueError, match="random_knn_acc"):
        length_report.merged(short, other, ["m"], "6x")
