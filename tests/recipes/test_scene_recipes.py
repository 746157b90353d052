"""The scene-centric comparison recipes: arms x seeds, resumable records, tables whose numbers
are the records', and a baseline measured in the same run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_contrastive.data import scene_arrays
from keras_contrastive.evaluation import mean_iou
from keras_contrastive.pretraining import build_augment, build_model, encoder_input_shape
from keras_contrastive.seeded_comparison import EXPERIMENTS, summarise, verdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
TINY = ["--seeds=0,1", "--epochs=1", "--train_subset=256", "--batch_size=64", "--width=4",
        "--eval_train=100", "--eval_test=100", "--segmentation_train=200",
        "--segmentation_epochs=15"]


def test_every_experiment_has_a_recipe_and_its_arms_build():
    from keras_contrastive.pretraining import PRESETS

    base = PRESETS["quality"].replace(dataset="fashion_scenes", width=4)
    for name, experiment in EXPERIMENTS.items():
        assert os.path.isfile(os.path.join(ROOT, "recipes", f"scenes_{name}.py")), name
        arm_names = {arm.name for arm in experiment["arms"]}
        for claim in experiment["claims"]:
            assert {claim.better, claim.worse} <= arm_names, claim
            assert claim.metric in experiment["metrics"], claim
        for arm in experiment["arms"]:
            config = base.replace(**arm.changes)
            build_augment(config, 48, 3)
            build_model(config, encoder_input_shape(config, 48, 3))


def _experiment(name, argv, capsys):
    """What ``python recipes/scenes_<name>.py ARGV`` runs (``seeded_comparison.run_recipe``),
    in this process: the records and the printed output.  The script path itself:
    ``test_unknown_arm_is_refused_before_any_training``."""
    from absl import flags

    from keras_contrastive.seeded_comparison import define_scene_flags, run_experiment

    values = flags.FlagValues()
    define_scene_flags(values)
    values(["recipe", *argv])
    records = run_experiment(name, values)
    return records, capsys.readouterr().out


def test_scene_recipe_runs_arms_by_seeds_resumes_and_reports_what_it_recorded(tmp_path, capsys):
    records_path, out = tmp_path / "records.jsonl", tmp_path / "table.md"
    argv = [*TINY, "--arms=MoCo-v2,LeOCLR", f"--records={records_path}", f"--out={out}"]
    _, printed = _experiment("leoclr", argv, capsys)
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert [(r["arm"], r["seed"]) for r in records] == [
        ("MoCo-v2", 0), ("LeOCLR", 0), ("MoCo-v2", 1), ("LeOCLR", 1)]
    # each seed is scored against its own random-init encoder: the two seeds' differ; the arms
    # of one seed build the same encoder, evaluated once (its figures reused, not recomputed)
    assert records[0]["random_seg_miou"] != records[2]["random_seg_miou"]
    random_metrics = [{k: v for k, v in r.items() if k.startswith("random_") and k[7:] in r}
                      for r in records]  # random_<metric> beside <metric> (not random_crop_acc)
    assert "random_seg_miou" in random_metrics[0]
    assert random_metrics[0] == random_metrics[1] and random_metrics[2] == random_metrics[3]
    assert printed.count("its figures are reused") == 2, printed
    # the baseline measured here: a random-init feature map segments better than the floor
    # of predicting background everywhere on the same test scenes
    masks = scene_arrays("fashion_scenes", "test", masks=True)[2][:100]
    floor = mean_iou(masks, np.zeros_like(masks), num_classes=11)["miou"]
    assert all(r["random_seg_miou"] > floor for r in records), (floor, records)
    # the table is the records' mean ± sd, the verdict the records' comparison
    text = out.read_text()
    summary = summarise(records, ["seg_miou"])
    for arm in ("MoCo-v2", "LeOCLR"):
        cell = f"{summary[arm]['seg_miou']['mean']:.4f} ± {summary[arm]['seg_miou']['sd']:.4f}"
        assert cell in text, (cell, text)
    knn = verdict(records, "LeOCLR", "MoCo-v2", "knn_acc")
    assert f"| LeOCLR > MoCo-v2 (kNN) | knn_acc | {knn['difference']:+.4f} |" in text
    assert "not measured" in text  # the end-to-end arms were not run
    # a second run resumes: nothing is trained again
    _, again = _experiment("leoclr", argv, capsys)
    assert "Pretraining" not in again
    assert len(records_path.read_text().splitlines()) == 4
    _, report = _experiment("leoclr", [*argv, "--report_only"], capsys)
    assert "4 runs" in report, report[-2000:]
    # and other settings against the same records are refused, naming the field
    with pytest.raises(ValueError, match="epochs"):
        _experiment("leoclr", [*argv, "--epochs=2"], capsys)


def test_unknown_arm_is_refused_before_any_training(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "recipes", "scenes_iou.py"),
                             "--arms=IoU <= 0.9", f"--records={tmp_path / 'r.jsonl'}"],
                            capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode != 0
    assert "unknown ['IoU <= 0.9']" in result.stdout + result.stderr
    assert "Pretraining" not in result.stdout


@pytest.mark.parametrize("values, expected", [
    (([0.5, 0.52, 0.51], [0.4, 0.41, 0.39]), "reproduced"),
    (([0.4, 0.41, 0.39], [0.5, 0.52, 0.51]), "contradicted"),
    (([0.5, 0.3, 0.7], [0.45, 0.5, 0.55]), "inconclusive")])
def test_verdicts_call_a_difference_only_beyond_the_spread(values, expected):
    records = [{"arm": arm, "seed": s, "m": v} for arm, vs in zip("AB", values)
               for s, v in enumerate(vs)]
    assert verdict(records, "A", "B", "m")["verdict"] == expected
    on_par = {"reproduced": "reproduced (better)", "contradicted": "contradicted",
              "inconclusive": "reproduced (on par)"}[expected]
    assert verdict(records, "A", "B", "m", kind="not_worse")["verdict"] == on_par
    # a cost (lower is better) flips the direction
    flipped = {"reproduced": "contradicted", "contradicted": "reproduced",
               "inconclusive": "inconclusive"}[expected]
    assert verdict(records, "A", "B", "m", lower_is_better=True)["verdict"] == flipped


def test_two_seeds_give_the_numbers_but_no_verdict():
    """The rule asks for three seeds an arm: with two, the difference and the spread are
    computed (a partial run's table shows them) and the verdict says there is none."""
    records = [{"arm": arm, "seed": s, "m": v} for arm, vs in zip("AB", ([0.5, 0.52], [0.4, 0.41]))
               for s, v in enumerate(vs)]
    two = verdict(records, "A", "B", "m")
    assert two["verdict"] == "no verdict (2 seeds)" and two["n"] == 2
    assert two["difference"] == pytest.approx(0.105) and two["paired_mean"] == pytest.approx(0.105)
    assert verdict(records, "A", "B", "m", min_seeds=2)["verdict"] == "reproduced"
    three = records + [{"arm": "A", "seed": 2, "m": 0.51}, {"arm": "B", "seed": 2, "m": 0.39}]
    assert verdict(three, "A", "B", "m")["verdict"] == "reproduced"


def test_an_encoder_is_evaluated_again_when_any_weight_or_setting_differs():
    import keras

    from keras_contrastive.pretraining import PretrainConfig
    from keras_contrastive.seeded_comparison import _reuse_equal_encoders

    calls = []

    def evaluator(encoder, train, test, config):
        calls.append(config.seed)
        return {"knn_acc": float(len(calls))}

    evaluate = _reuse_equal_encoders(evaluator, log=lambda *args: None)
    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    config = PretrainConfig()
    assert evaluate(encoder, None, None, config) == {"knn_acc": 1.0}
    assert evaluate(encoder, None, None, config) == {"knn_acc": 1.0} and len(calls) == 1
    kernel = encoder.layers[0].kernel
    kernel.assign(np.nextafter(kernel.numpy(), np.inf))  # one ulp in every entry
    assert evaluate(encoder, None, None, config) == {"knn_acc": 2.0}
    assert evaluate(encoder, None, None, config.replace(seed=1)) == {"knn_acc": 3.0}
    # an evaluator that reads the pretraining data: another data set is another evaluation
    assert evaluate(encoder, None, None, config.replace(dataset="fashion_scenes")) == {
        "knn_acc": 4.0}
    assert calls == [0, 0, 1, 0]


def test_clip_recipe_exports_both_towers_with_its_scores_and_checks_the_folder_first(
        tmp_path, monkeypatch, capsys):
    """``recipes/clip_scenes.py --export DIR`` at a tiny preset (64 scenes of 16 px, one
    epoch): DIR/1 serves texts and images, its metadata holds the seed's recorded scores; an
    existing version is refused before training; several seeds export to DIR/seed<S>."""
    import importlib.util

    from keras_contrastive.export import load_dual_encoder, read_metadata

    spec = importlib.util.spec_from_file_location(
        "clip_scenes", os.path.join(ROOT, "recipes", "clip_scenes.py"))
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    monkeypatch.setitem(recipe.PRESETS, "tiny", dict(
        train=64, test=32, size=16, objects=(1, 2), epochs=1, batch_size=32, lr=1e-3,
        weight_decay=1e-4, projection_dim=8, text_dim=8, text_depth=1))
    export, out = tmp_path / "clip", tmp_path / "clip.jsonl"
    recipe.main(["--preset", "tiny", "--out", str(out), "--export", str(export)])
    record = json.loads(out.read_text())
    assert record["export"] == str(export / "1") and record["seed"] == 0
    info = read_metadata(export)
    assert (info["kind"], info["seed"], info["preset"]) == ("dual_encoder", 0, "tiny")
    assert info["metrics"]["trained"] == json.loads(json.dumps(record["trained"]))
    served = load_dual_encoder(export)
    assert served.embed_texts(["a photo of a bag"]).shape == (1, 8)
    capsys.readouterr()
    with pytest.raises(FileExistsError, match="overwrite"):
        recipe.main(["--preset", "tiny", "--export", str(export)])
    assert capsys.readouterr().out == ""  # refused before any seed ran
    args = recipe.argparse.Namespace(export=str(export), seeds=[0, 3], export_version=1,
                                     overwrite=False, preset="tiny")
    assert {seed: target["path"] for seed, target in recipe._export_targets(args).items()} == {
        0: str(export / "seed0"), 3: str(export / "seed3")}
