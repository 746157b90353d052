"""``benchmarks/gpu_suite.py`` runs on a CPU, so it is known to work the day an
accelerator is lent: a real ``--smoke`` slice, and the suite's bookkeeping
(fit search, baselines, recorded errors) on a stand-in for the timing."""
import contextlib
import io
import json
import os
import sys

import keras
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import gpu_suite  # noqa: E402

from tests.conftest import fresh_collective_keys  # noqa: E402


def _main(argv):
    # the suite builds its own MirroredStrategy: without keys of its own, its collectives
    # collide with those of strategies other tests built in this process
    fresh_collective_keys()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert gpu_suite.main(argv) == 0
    return printed.getvalue()


def test_smoke_slice_times_every_configuration_and_prints_the_table(tmp_path):
    out = str(tmp_path / "suite.json")
    # the small CNN for --smoke's ResNet-18: the suite's path is the same for every backbone
    # (build_backbone), and tracing the ResNet under a 2-replica strategy was most of the time
    printed = _main(["--smoke", "--backbone", "small_cnn", "--methods", "simclr",
                     "--precisions", "mixed_bfloat16", "--augment_on", "data,device",
                     "--out", out])
    result = json.load(open(out))
    rows = result["rows"]
    assert [(r["method"], r["augment_on"]) for r in rows] == [
        ("supervised", "n/a"), ("simclr", "data"), ("simclr", "device")]
    for row in rows:
        assert "error" not in row, row
        assert row["images_per_s"] > 0 and row["timed_steps"] == 2
        if tf.config.list_logical_devices("GPU"):
            assert row["peak_memory_mib"] > 0
        else:
            assert row["peak_memory_mib"] == "n/a"
        assert row["precision"] == "mixed_bfloat16" and row["xla"] is False
    for row in rows[1:]:
        assert row["ratio_to_supervised"] == round(row["step_ms"] / rows[0]["step_ms"], 3)
    table = open(out[:-len(".json")] + ".md").read()
    assert "| simclr | mixed_bfloat16 | off | device | 4 |" in table
    assert table in printed
    assert keras.mixed_precision.global_policy().name == "float32"  # reset after the suite


def test_fit_search_halves_on_out_of_memory_and_records_other_errors(tmp_path, monkeypatch):
    calls = []

    def fake_timing(args, strategy, pool, setting, batch_per_replica):
        calls.append((setting[0], batch_per_replica))
        if setting[0] == "byol":
            raise ValueError("Graph execution error:\nFile x\nbyol broke here")
        if batch_per_replica > (4 if setting[0] == "supervised" else 2):
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        step = 0.1 if setting[0] == "supervised" else 0.125
        return {"step_ms": 1000 * step, "images_per_s": 2 * batch_per_replica / step,
                "first_step_s": 1.0, "peak_memory_mib": "n/a", "timed_steps": 2}

    monkeypatch.setattr(gpu_suite, "time_configuration", fake_timing)
    out = str(tmp_path / "suite.json")
    printed = _main(["--smoke", "--methods", "simclr,byol", "--precisions", "float32",
                     "--augment_on", "data", "--batch_per_replica", "auto",
                     "--batch_start", "8", "--out", out])
    rows = json.load(open(out))["rows"]
    by = {(r["method"], r["batch_per_replica"] if "error" not in r else None): r for r in rows}
    assert by[("supervised", 4)]["out_of_memory_at"] == [8]
    simclr = by[("simclr", 2)]
    assert simclr["out_of_memory_at"] == [8, 4]
    # the supervised step timed again at SimCLR's batch, before SimCLR's row
    assert rows.index(by[("supervised", 2)]) == rows.index(simclr) - 1
    assert simclr["ratio_to_supervised"] == 1.25 and simclr["goal_met"] is False
    assert by[("byol", None)]["error"] == "ValueError: byol broke here"
    assert calls.count(("byol", 8)) == 1  # not an out-of-memory error: no retry
    assert "| byol | float32 | off | data |  | ValueError: byol broke here" in printed


def test_flags_refuse_unknown_methods_and_precisions():
    for argv in (["--methods", "simclr,nope"], ["--precisions", "float64"],
                 ["--batch_per_replica", "many"], ["--batch_per_replica", "0"]):
        with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            gpu_suite.parse_args(argv)
