"""benchmarks/reuse_records.py: another experiment's runs become an arm's seeds only
where the configuration is the same and a shared seed's figures are equal."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import reuse_records  # noqa: E402


def _record(arm, seed, seg, config=None, **extra):
    return {"arm": arm, "seed": seed, "seg_miou": seg, "seconds": 100.0 + seed,
            "config": dict(config or {"method": "moco_v2", "epochs": 10}, seed=seed), **extra}


def test_the_seeds_the_target_lacks_are_copied_and_marked():
    target = [_record("MoCo", 0, 0.11, pointing_game=0.5), _record("+ kNN", 0, 0.12)]
    source = [_record("IoU any", 0, 0.11, pointing_game=None), _record("IoU any", 1, 0.09,
              pointing_game=None), _record("IoU <= 0.1", 1, 0.07)]
    merged = reuse_records.reuse(source, "IoU any", target, "MoCo", source_name="iou.jsonl")
    assert merged[:2] == target
    assert len(merged) == 3
    copy = merged[2]
    assert (copy["arm"], copy["seed"], copy["seg_miou"]) == ("MoCo", 1, 0.09)
    assert copy["copied_from"] == "iou.jsonl, arm 'IoU any'"
    assert "pointing_game" not in copy  # not measured there: left out, not None


def test_a_different_config_or_differing_figures_or_no_shared_seed_is_refused():
    target = [_record("MoCo", 0, 0.11)]
    other = [_record("IoU any", 0, 0.11), _record("IoU any", 1, 0.09, {"method": "moco_v2",
                                                                        "epochs": 5})]
    with pytest.raises(ValueError, match="seed 1: the config of 'IoU any' differs"):
        reuse_records.reuse(other, "IoU any", target, "MoCo")
    with pytest.raises(ValueError, match=r"seed 0: the two runs differ in \['seg_miou'\]"):
        reuse_records.reuse([_record("IoU any", 0, 0.1100001)], "IoU any", target, "MoCo")
    with pytest.raises(ValueError, match="no seed in both files"):
        reuse_records.reuse([_record("IoU any", 1, 0.09)], "IoU any", target, "MoCo")
