"""Recipes run top to bottom as scripts on real Fashion-MNIST, evaluate and export;
their paper presets build; their files are what the engine generates."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from keras_contrastive import recipes
from keras_contrastive.evaluation import knn_accuracy
from keras_contrastive.export import load_encoder
from keras_contrastive.models.registry import method_names
from keras_contrastive.pretraining import build_model, build_optimizer, encoder_input_shape
from keras_contrastive.pretraining.sources import open_split

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _run(script, *flags, timeout=900):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "recipes", script), *flags],
                            capture_output=True, text=True, timeout=timeout, env=ENV)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _figures(stdout):
    """kNN / linear accuracy from the report's 'pretrained' row."""
    row = [line for line in stdout.splitlines() if line.startswith("pretrained")]
    assert row, stdout[-2000:]
    return [float(x) for x in row[-1].split()[1:]]


def test_every_method_has_a_recipe():
    assert set(recipes.PAPERS) == set(method_names())
    for method in method_names():
        assert os.path.isfile(os.path.join(ROOT, "recipes", f"{method}.py")), method


@pytest.mark.parametrize("method", method_names())
def test_recipe_file_is_the_generated_one(method):
    """The docstring table is the settings the code runs (regenerate with
    ``python -m keras_contrastive.recipes write recipes/``)."""
    with open(os.path.join(ROOT, "recipes", f"{method}.py")) as f:
        assert f.read() == recipes.recipe_source(method)


def test_help_lists_every_recipe_flag():
    """absl's ``--help`` prints the key flags of the script run (``sys.argv[0]``): the
    recipe's flags are defined in ``keras_contrastive.recipes``, so without registering
    them for the script they showed only under ``--helpfull``, among absl's own."""
    values = flags.FlagValues()
    recipes.define_flags("simclr", values)
    shown = values.main_module_help()
    for name in ("preset", "train_subset", "eval_subset", "export", "strategy", "dry_run",
                 "backbone", "epochs"):
        assert f"--{name}" in shown or f"--[no]{name}" in shown, name


# One export per kind of exported encoder: every other method's feature extractor is the
# ResNet-18 backbone itself (as SimCLR's), so its export is SimCLR's code path on the same
# graph; colorization serves the lightness channel of RGB images, CPC the mean of its patch
# grid, MAE a ViT (I-JEPA's is the same ViT).  The export of each method's own extractor is
# checked in tests/test_pretraining.py: any method outside EXPORT_CASES exports its backbone.
EXPORT_CASES = ("simclr", "colorization", "cpc", "mae")


@pytest.mark.parametrize("method", method_names())
def test_cpu_small_recipe_runs_evaluates_and_exports(method, tmp_path, capsys):
    """What ``python recipes/<method>.py --preset cpu_small ...`` runs (the file is the
    generated one: above), in this process; the script path itself is run as a script
    by the strategy and refusal tests below.  Learning is each method's own test
    (tests/models): here, the run's report must be the run's figures and, for one method
    per kind of exported encoder (``EXPORT_CASES``), the exported encoder's.

    Where the preset's backbone is its ResNet-18, the run takes ``--backbone small_cnn``
    (``--width 8``): what is checked is the recipe's path, which is the same for every
    backbone, and tracing a ResNet-18 train step was most of each test's time (BENCHMARKS,
    "The test suite").  The preset's ResNet-18 itself trains in the walkthrough test
    below, the CLI's pretrain test and the README example."""
    export_dir = tmp_path / "encoder"
    exports = method in EXPORT_CASES
    values = flags.FlagValues()
    recipes.define_flags(method, values)
    small = (["--backbone", "small_cnn", "--width", "8"]
             if recipes.preset_config(method, "cpu_small").backbone == "resnet18" else [])
    values(recipes._underscored(["recipe", "--preset", "cpu_small", "--epochs", "1",
                                 "--train-subset", "512", "--eval-subset", "300", *small,
                                 "--export", str(export_dir) if exports else ""]))
    result = recipes.run(method, values)
    stdout = capsys.readouterr().out
    assert "kNN acc" in stdout and "linear acc" in stdout
    knn, *_, linear = _figures(stdout)
    assert knn == pytest.approx(result.metrics["knn_acc"], abs=0.5e-4)  # printed to 4 places
    assert linear == pytest.approx(result.metrics["linear_acc"], abs=0.5e-4)
    assert np.all(np.isfinite(result.history["loss"])), result.history
    config = recipes.config_from_flags(method, values)
    assert len(result.history["loss"]) == 1 and config.train_subset == 512
    if not exports:
        assert not export_dir.exists() and "exported" not in stdout
        return
    # the baseline recomputed here: the exported SavedModel's kNN accuracy on the same
    # labelled images is the figure the report printed for the pretrained encoder
    train = open_split(config.dataset, "train").evaluation_data(300)
    test = open_split(config.dataset, "test").evaluation_data(300)
    served = knn_accuracy(load_encoder(str(export_dir)), train, test, k=config.knn_k,
                          temperature=config.knn_temperature)
    assert served == pytest.approx(knn, abs=0.5e-4), (served, knn)  # printed to 4 places
    assert 0 <= linear <= 1
    with open(export_dir / "1" / "metadata.json") as f:
        metadata = json.load(f)
    assert metadata["training_data"] == f"{config.dataset}[:512]"
    assert metadata["config"]["method"] == method and metadata["config"]["epochs"] == 1
    assert metadata["metrics"]["knn_acc"] == pytest.approx(knn, abs=0.5e-4)


def test_recipe_trains_under_mirrored_strategy_on_two_cpu_devices(tmp_path):
    """The script itself, under a 2-replica strategy (the preset's ResNet-18 trains in the
    walkthrough and CLI tests; the small CNN keeps this one to the strategy's path)."""
    stdout = _run("simclr.py", "--strategy=mirrored", "--cpu_devices=2", "--epochs=1",
                  "--train_subset=1024", "--batch_size=128", "--eval_subset=500", "--export=",
                  "--backbone=small_cnn", "--width=8")
    assert "2 replica(s)" in stdout and "small_cnn" in stdout
    assert len(_figures(stdout)) == 3


def test_multi_worker_strategy_without_tf_config_is_refused_before_training():
    env = {k: v for k, v in ENV.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "recipes", "moco_v2.py"),
                             "--strategy=multi_worker"], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode != 0
    assert "TF_CONFIG" in result.stderr and "Epoch" not in result.stdout


def test_paper_preset_dry_run_prints_the_paper_setup(capsys):
    """What ``python recipes/byol.py --preset=paper --dry_run`` prints, in this process (a
    TensorFlow process start was most of this test's time; the script path is run as a
    script by the strategy and refusal tests)."""
    values = flags.FlagValues()
    recipes.define_flags("byol", values)
    values(["recipe", "--preset=paper", "--dry_run"])
    assert recipes.run("byol", values) is None  # nothing trained
    stdout = capsys.readouterr().out
    assert "ResNet-50 width 64" in stdout and "1000 x 4096" in stdout
    assert "LARS, lr 3.2, wd 1.5e-06, 10 warm-up epochs" in stdout
    assert "parameters" in stdout


@pytest.mark.parametrize("method", method_names())
def test_paper_preset_builds_the_papers_model(method):
    config = recipes.preset_config(method, "paper")
    model = build_model(config, encoder_input_shape(config, config.image_size, 3))
    optimizer = build_optimizer(config, steps_per_epoch=1000)
    # the model got the paper's arguments, the optimizer the paper's rate
    model_config = model.get_config()
    for name, value in config.model_options.items():
        assert model_config[name] == value, (name, model_config[name], value)
    assert type(optimizer).__name__.lower() == config.optimizer_name
    warmup = config.warmup_epochs * 1000
    assert float(optimizer.learning_rate) == pytest.approx(0.0 if warmup else
                                                          config.peak_learning_rate)
    optimizer.iterations.assign(warmup)
    assert float(optimizer.learning_rate) == pytest.approx(config.peak_learning_rate, rel=1e-5)


def test_flags_accept_hyphens_and_underscores():
    assert recipes._underscored(["prog", "--train-subset", "2048", "--eval-subset=10",
                                 "--dry_run", "-v"]) == \
        ["prog", "--train_subset", "2048", "--eval_subset=10", "--dry_run", "-v"]


def test_image_size_flag_takes_h_w_as_the_cli_does(capsys):
    """``--image_size 24,32`` (the CLI's ``--image-size`` spelling): the config's
    ``(24, 32)``, printed and built by a dry run; a bad size is refused naming the flag."""
    values = flags.FlagValues()
    recipes.define_flags("simclr", values)
    values(["recipe", "--image_size", "24,32", "--dry_run"])
    assert recipes.config_from_flags("simclr", values).image_size == (24, 32)
    assert recipes.run("simclr", values) is None
    assert "24x32 px crops" in capsys.readouterr().out
    values(["recipe", "--image_size=28"])
    assert recipes.config_from_flags("simclr", values).image_size == 28
    with pytest.raises(flags.IllegalFlagValueError,
                       match=r"--image_size must be a positive int \(a square\) or H,W"):
        values(["recipe", "--image_size", "24,x"])


def test_vit_small_with_local_crops_builds_for_the_global_size():
    """DINO's ViT-S/16 setting: the ViT takes 96 px local crops beside 224 px globals."""
    config = recipes.preset_config("dino", "paper").replace(backbone="vit_small",
                                                             optimizer="adamw")
    model = build_model(config, encoder_input_shape(config, 224, 3))
    import numpy as np

    for size in (224, 96):
        assert model.encoder(np.zeros((1, size, size, 3), np.float32)).shape == (1, 384)


def test_unknown_preset_and_method_are_named():
    with pytest.raises(ValueError, match="unknown preset 'imagenet'"):
        recipes.preset_config("simclr", "imagenet")
    with pytest.raises(ValueError, match="no recipe for 'simclr_v9'"):
        recipes.preset_config("simclr_v9", "paper")


def test_walkthrough_runs_evaluates_and_exports(tmp_path):
    """recipes/simclr_walkthrough.py spells out every step with the public API."""
    export_dir = tmp_path / "encoder"
    stdout = _run("simclr_walkthrough.py", "--epochs=1", "--train_subset=512", "--batch_size=64",
                  "--width=4", "--eval_subset=500", f"--export={export_dir}", timeout=600)
    assert "kNN acc" in stdout and "linear acc" in stdout
    assert (export_dir / "1" / "saved_model.pb").exists()


def _load_recipe(script):
    """recipes/SCRIPT as a module (imported, not run: its flags are not defined)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"recipe_{script[:-3]}",
                                                  os.path.join(ROOT, "recipes", script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_in_process(script, *argv):
    """What ``python recipes/SCRIPT ARGV`` runs (its ``define_flags`` and ``run``), in this
    process: the script path of the comparison recipes is
    ``test_revisiting_ablation_names_its_rows_when_one_is_unknown``."""
    module = _load_recipe(script)
    values = flags.FlagValues()
    module.define_flags(values)
    values(["recipe", *argv])
    assert module.run(values) == 0


def test_a_notebook_cell_parses_its_argv_afresh_on_every_run(monkeypatch):
    """In a kernel (notebooks/<method>.ipynb) ``main(method, argv)`` parses ``argv``
    without exiting, and a re-run cell does not inherit the last run's flags."""
    monkeypatch.setattr(recipes, "_in_notebook", lambda: True)
    recipes.define_flags("simclr")
    seen = []

    def main(argv):
        seen.append((flags.FLAGS.train_subset, flags.FLAGS.dry_run, argv[1:]))
        return len(seen)

    argv = ["simclr", "--train-subset=96", "--dry_run", "x"]
    assert recipes.run_script(main, "simclr", argv) == 1
    assert recipes.run_script(main, "simclr", ["simclr"]) == 2
    assert seen == [(96, True, ["x"]), (None, False, [])]


def test_comparison_recipes_define_their_flags_once_and_run_again_in_one_kernel():
    """A notebook may run a recipe cell twice (the second definition is skipped)."""
    for script in ("revisiting_ablation.py", "leoclr_vs_moco.py"):
        values = flags.FlagValues()
        for _ in range(2):
            _load_recipe(script).define_flags(values)
        values(["recipe", "--epochs=2"])
        assert values.epochs == 2 and "eval_subset" in values


def test_revisiting_ablation_runs_the_first_and_last_rows_and_writes_the_table(tmp_path):
    """MoCo and '+ kNN', which carries every modification of the rows between
    (multi-crop, the overlap constraint, the lower momentum, the strong
    policy): each of those is a PretrainConfig setting tested on its own."""
    out = tmp_path / "ablation.md"
    _run_in_process("revisiting_ablation.py", "--epochs=1", "--train_subset=256",
                    "--batch_size=64", "--backbone=small_cnn", "--width=4", "--eval_subset=300",
                    "--rows=MoCo,+ kNN", f"--out={out}")
    table = out.read_text()
    for row in ("random init", "| MoCo |", "| + kNN |"):
        assert row in table, row
    for row in ("+ MC", "+ CC", "+ m |", "+ A+"):
        assert row not in table, row
    records = [json.loads(line) for line in table.splitlines() if line.startswith("{")]
    assert [r["row"] for r in records] == ["MoCo", "+ kNN"]
    assert records[1]["local_crops"] == 4 and records[1]["min_overlap"] == 0.2
    assert records[1]["stronger"] and records[1]["key_momentum"] == 0.98


def test_revisiting_ablation_names_its_rows_when_one_is_unknown():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "recipes", "revisiting_ablation.py"),
                             "--rows=MoCo,+ XYZ"], capture_output=True, text=True, timeout=300,
                            env=ENV)
    assert result.returncode != 0
    assert "flag --rows=MoCo,+ XYZ: --rows takes 'all' or a comma-separated list of " \
        "['MoCo', '+ MC', '+ CC', '+ m', '+ A+', '+ kNN']" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "Epoch" not in result.stdout


def test_leoclr_vs_moco_runs_both_rows_with_the_random_crop_test(tmp_path):
    out = tmp_path / "leoclr_vs_moco.md"
    _run_in_process("leoclr_vs_moco.py", "--epochs=1", "--train_subset=256", "--batch_size=64",
                    "--backbone=small_cnn", "--width=4", "--eval_subset=300",
                    "--key_momentum=0.999", f"--out={out}")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| method | kNN acc | linear acc | centre crop | random crop")
    rows = {line.split("|")[1].strip(): [float(x) for x in line.split("|")[2:7]]
            for line in lines[2:4]}
    assert set(rows) == {"MoCo-v2", "LeOCLR"}
    for knn, linear, centre, random_crop, drop in rows.values():
        assert 0 <= random_crop <= 1 and centre == pytest.approx(linear, abs=1e-4)
        assert drop == pytest.approx(centre - random_crop, abs=2e-4)
    records = [json.loads(line) for line in lines[5:]]
    assert [r["method"] for r in records] == ["moco_v2", "leoclr"]
    # both rows trained at the requested key momentum (equal settings)
    assert [r["key_momentum"] for r in records] == [pytest.approx(0.999)] * 2


def test_semantic_mask_retrieval_prints_both_tables_and_plots_the_sweep(tmp_path):
    out, plot = tmp_path / "case_study.md", tmp_path / "sweep.png"
    stdout = _run("semantic_mask_retrieval.py", "--unpaired=85", "--train_pairs=85",
                  "--test_pairs=20", "--ssl_epochs=1", "--pair_epochs=1", "--ratios=0.9,0.6",
                  f"--out={out}", f"--plot={plot}")
    text = out.read_text()
    for row in ("pixel agreement (no learning)", "only supervised training",
                "only self-supervised training", "dense layers were replaced and trained",
                "all layers were fine-tuned", "| 0.60 |", "| 0.90 |"):
        assert row in text and row in stdout, row
    record = json.loads(text.strip().splitlines()[-1])
    # the sweep's 0.6 row is Table 1's fine-tuned run, not trained again
    assert record["table2"]["0.6"] == record["table1"]["all layers were fine-tuned"]
    assert stdout.count("Table 2: min crop ratio") == 1 and "done in" in stdout
    recalls = record["table1"]["all layers were fine-tuned"]
    values = [recalls[str(n)] for n in (1, 2, 3, 4, 5)]
    assert values == sorted(values) and all(0 <= v <= 1 for v in values)  # R@N grows with N
    with open(plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
