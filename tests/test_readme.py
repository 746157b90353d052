"""The newcomer path: README's API example, pasted into Python from a fresh
clone, runs without edits (on real Fashion-MNIST) and does what it says."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _api_example():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Use it as a library"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def methods_missing_from_readme():
    """Registered methods that the README's method table does not name: each needs
    its name in backticks in a row's first cell and a link to its recipe."""
    from keras_contrastive.models.registry import method_names

    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Methods"):]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines()
            if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    linked = set(re.findall(r"\(recipes/(\w+)\.py\)", "\n".join(rows)))
    return [name for name in method_names() if name not in named or name not in linked]


def test_readme_method_table_names_every_registered_method():
    assert methods_missing_from_readme() == []


def test_readme_api_example_runs_as_written(tmp_path):
    code = _api_example()
    assert len(code.strip().splitlines()) <= 18  # a short example
    # without TF_CPP_MIN_LOG_LEVEL (conftest sets it): the example's import order must
    # quieten TensorFlow's log itself, as the README says
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=1500, env=dict(env, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "PredictCost" not in result.stderr, result.stderr[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"kNN accuracy \(10 classes\): random init ([\d.]+), pretrained ([\d.]+)",
                         line)
    assert match, result.stdout[-2000:]
    random_init, pretrained = map(float, match.groups())
    # the baseline is measured in the same run: the same encoder before pretraining
    assert pretrained > random_init, line
    assert (tmp_path / "saved_models" / "my_encoder" / "1" / "saved_model.pb").exists()
