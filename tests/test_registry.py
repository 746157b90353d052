"""One method, one place: a method registered from this file alone (no other
module edited) is offered by the CLI and the quality benchmark, gets a recipe,
trains through ``pretrain`` and is asked for by the README table check."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from keras_contrastive.models import ContrastiveModel
from keras_contrastive.models.registry import (
    MethodSpec, Paper, get_method, method_names, method_specs, register_method,
    unregister_method)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ToyAlign(ContrastiveModel):
    """Cosine alignment of two views (it would collapse: a contract test only)."""

    reads_local_views = True

    def __init__(self, encoder, temperature=0.1, **kwargs):
        super().__init__(encoder, **kwargs)
        self.temperature = temperature

    def compute_objective(self, views, training):
        a, b = (tf.math.l2_normalize(self.encoder(v, training=training), 1)
                for v in views["global"][:2])
        return -tf.reduce_mean(tf.reduce_sum(a * b, 1)) / self.temperature, {"embeddings": a}


def register_toy():
    """What a new method's file ends with."""
    return register_method(MethodSpec(
        "toy_align", ToyAlign,
        Paper("ToyAlign", "Nobody: Aligning two views, a toy (2026)",
              {"batch_size": 512, "epochs": 3, "optimizer": "adamw"}, "nothing reported"),
        protocol=lambda config: {}))


_SCRIPT = textwrap.dedent("""
    import contextlib, io, json, os, sys
    sys.path.insert(0, os.path.join({root!r}, "benchmarks"))
    from tests.test_registry import register_toy
    register_toy()
    out = {{}}

    def printed(function, *args):
        buffer, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(errors):
            try:
                function(*args)
            except SystemExit as exit:
                out.setdefault("exits", []).append(exit.code)
        return buffer.getvalue() + errors.getvalue()

    from keras_contrastive import cli, recipes
    out["pretrain_help"] = printed(cli.run, ["pretrain", "--help"])
    import quality
    out["quality_help"] = printed(quality.main, ["--help"])
    out["quality_refusal"] = printed(quality.main, ["--method", "toy_alignment"])
    paths = recipes.write_recipes({tmp!r})
    out["recipes"] = sorted(os.path.basename(p) for p in paths)
    out["recipe_source"] = open(os.path.join({tmp!r}, "toy_align.py")).read()
    out["dry_run"] = printed(recipes.main, "toy_align",
                             ["recipe", "--preset", "paper", "--dry_run"])
    from tests.test_readme import methods_missing_from_readme
    out["readme_missing"] = methods_missing_from_readme()
    from keras_contrastive.pretraining import PretrainConfig, pretrain
    result = pretrain(PretrainConfig(method="toy_align", epochs=1, batch_size=32, width=4,
                                     train_subset=64, eval_train_subset=100,
                                     eval_test_subset=50),
                      verbose=0, evaluate_random_init=False, log=lambda *a: None)
    out["model"] = type(result.model).__name__
    out["steps"] = int(result.model.optimizer.iterations.numpy())
    print("RESULT " + json.dumps(out))
""")


def test_a_method_registered_in_one_file_reaches_cli_benchmark_recipes_and_readme(tmp_path):
    script = _SCRIPT.format(root=ROOT, tmp=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=600,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    # the CLI's --method choices, and the methods reading local crops in --local-crops' help
    help_text = " ".join(out["pretrain_help"].split())
    assert "toy_align" in help_text.split("--method {", 1)[1].split("}", 1)[0]
    assert "--local-crops" in help_text and "swav, toy_align)" in help_text
    assert "(methods: byol, simclr)." in help_text  # --anchor: the toy takes none
    # the quality benchmark offers it (and lists it when refusing a wrong name)
    assert "toy_align" in out["quality_help"]
    assert "invalid choice: 'toy_alignment'" in out["quality_refusal"]
    assert "'toy_align'" in out["quality_refusal"]
    # recipe generation writes its recipe, with its paper's settings
    assert "toy_align.py" in out["recipes"] and len(out["recipes"]) == len(method_names()) + 1
    assert 'recipes.main("toy_align")' in out["recipe_source"]
    assert "Nobody: Aligning two views, a toy (2026)" in out["recipe_source"]
    assert "3 x 512" in out["recipe_source"] and "ADAMW" in out["recipe_source"]
    assert "ToyAlign, --preset paper" in out["dry_run"] and "parameters" in out["dry_run"]
    # the README table check asks for it (README itself was not edited)
    assert out["readme_missing"] == ["toy_align"]
    # and the run builds and trains it with the protocol's temperature
    assert out["model"] == "ToyAlign" and out["steps"] == 2
    assert out["exits"] == [0, 0, 2, 0]
    # nothing leaked into this process
    assert "toy_align" not in method_names()


def test_what_a_method_reads_comes_from_its_class():
    assert get_method("moco_v1").reads == ("global", "local")  # MoCo reads local crops
    assert get_method("leoclr").reads == ("global", "original")
    assert get_method("supcon").reads == ("global", "labels")
    assert get_method("npid").reads == ("global", "indices")
    assert {spec.name for spec in method_specs() if spec.takes_anchor} == {"simclr", "byol"}
    assert not get_method("dino").uses_temperature and get_method("swav").uses_temperature


def test_registering_twice_or_a_bad_spec_is_refused():
    with pytest.raises(ValueError, match="'simclr' is already registered"):
        register_method(get_method("simclr"))
    with pytest.raises(ValueError, match="unknown method 'simclr_v9'; choose one of"):
        get_method("simclr_v9")
    with pytest.raises(ValueError, match="must be an identifier"):
        MethodSpec("toy-align", ToyAlign, get_method("simclr").paper)
    spec = register_toy()
    try:
        assert get_method("toy_align") is spec
    finally:
        unregister_method("toy_align")
    assert "toy_align" not in method_names()


def test_the_committed_method_manifest_is_the_generated_one():
    """``keras_contrastive/_method_manifest.py`` (what ``--help`` reads without
    TensorFlow) is what the registry derives; regenerate it with ``python -c "from
    keras_contrastive.models.registry import write_manifest; write_manifest()"``."""
    from keras_contrastive.models.registry import MANIFEST_PATH, manifest_source

    with open(MANIFEST_PATH) as f:
        assert f.read() == manifest_source()


def test_known_methods_come_from_the_registry_once_the_models_are_imported():
    """A method registered at run time is known to the config (and so to the CLI's
    parser), which reads the manifest only before the models are imported."""
    from keras_contrastive._method_manifest import METHODS
    from keras_contrastive.pretraining.config import known_method_names

    assert known_method_names() == method_names() == tuple(m["name"] for m in METHODS)
    register_toy()
    try:
        assert "toy_align" in known_method_names()
    finally:
        unregister_method("toy_align")
