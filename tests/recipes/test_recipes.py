"""Recipes run top to bottom as scripts (tiny settings, real Fashion-MNIST)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("recipe", ["simclr.py"])
def test_recipe_runs_evaluates_and_exports(recipe, tmp_path):
    export_dir = tmp_path / "encoder"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", recipe), "--epochs=1",
         "--train_subset=512", "--batch_size=64", "--width=4", "--eval_subset=500",
         f"--export={export_dir}"],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "kNN acc" in result.stdout and "linear acc" in result.stdout
    assert (export_dir / "1" / "saved_model.pb").exists()


def test_revisiting_ablation_runs_every_row_and_writes_the_table(tmp_path):
    out = tmp_path / "ablation.md"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", "revisiting_ablation.py"), "--epochs=1",
         "--train_subset=256", "--batch_size=64", "--width=4", "--eval_subset=300",
         f"--out={out}"],
        capture_output=True, text=True, timeout=900,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = out.read_text()
    for row in ("random init", "| MoCo |", "+ MC", "+ CC", "+ m", "+ A+", "+ kNN"):
        assert row in table, row
