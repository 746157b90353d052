"""The notebooks: ``notebooks/quickstart.ipynb`` (the newcomer's) and one per
headline recipe (``notebooks/<method>.ipynb``).  The committed files are what
``notebooks/make_notebooks.py`` writes, and they run headless (nbclient, a fresh
kernel) with ``KC_NOTEBOOK_SMOKE=1``.  Needs the ``notebook`` extra (in ``make
install``; ``pip install -e ".[notebook]"``: nbclient, nbformat, ipykernel);
skipped without it."""
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"

_MISSING = [name for name in ("nbclient", "nbformat", "ipykernel")
            if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"the notebook tests need {', '.join(_MISSING)}: "
    "pip install -e \".[notebook]\" (or `make install`)")


def _generator():
    sys.path.insert(0, str(ROOT / "notebooks"))
    try:
        import make_notebooks
    finally:
        sys.path.remove(str(ROOT / "notebooks"))
    return make_notebooks


def test_the_committed_notebooks_are_the_generated_ones():
    import nbformat

    generated = _generator().notebooks()
    assert {"quickstart.ipynb", "simclr.ipynb", "moco_v2.ipynb", "dino.ipynb",
            "leoclr.ipynb"} <= set(generated)
    assert sorted(path.name for path in NOTEBOOK.parent.glob("*.ipynb")) == sorted(generated)
    for name, notebook in generated.items():
        committed = nbformat.read(NOTEBOOK.parent / name, as_version=4)
        assert committed == notebook, (
            f"notebooks/{name} differs from what make_notebooks.py writes: run "
            "python notebooks/make_notebooks.py")
        assert all(not cell.get("outputs") for cell in committed.cells)  # committed unexecuted


def test_a_recipe_notebook_is_its_recipe_script():
    """The docstring (its table as markdown) and the code of recipes/<method>.py."""
    notebook = _generator().recipe_notebook("dino")
    script = (ROOT / "recipes" / "dino.py").read_text()
    markdown, code = notebook.cells[0].source, [c.source for c in notebook.cells
                                                if c.cell_type == "code"]
    assert markdown.startswith("# DINO with keras-contrastive: pretrain, evaluate, export.")
    assert "| epochs x batch | 800 x 1024 | 5 x 256 |" in markdown and "800 x 1024" in script
    assert "`--preset cpu_small`" in markdown and "``--preset cpu_small``" in script
    assert code[1] == code[2]  # the run cell, and the same cell run again
    assert code[1].startswith('from keras_contrastive import recipes\n\n'
                              'recipes.define_flags("dino")\n')
    assert code[1].endswith('result = recipes.main("dino", ARGV)')
    assert "!pip install" in code[0] and all(  # the install line is Colab's, commented
        line.startswith("#") for line in code[0].splitlines() if "pip install" in line)


def _execute(path, tmp_path, monkeypatch, timeout):
    import nbclient
    import nbformat

    monkeypatch.setenv("KC_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    # the kernel imports this checkout's package, whatever the environment installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


def _text(cell):
    return "".join(output.get("text", "") for output in cell.outputs)


# The recipe notebooks are one template (make_notebooks.recipe_notebook) with the method's
# name and table filled in, each committed notebook equal to its generation (above), and
# each method's recipe runs in-process in tests/recipes: one kernel run covers the rest
# (DINO's: the recipe with the most flags, local crops included).
@pytest.mark.parametrize("method", ["dino"])
def test_a_recipe_notebook_runs_its_recipe_twice_in_one_kernel_and_prints_the_accuracies(
        method, tmp_path, monkeypatch):
    notebook = _execute(NOTEBOOK.parent / f"{method}.ipynb", tmp_path, monkeypatch, timeout=120)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)  # every cell ran, none raised
    assert _text(code[0]).startswith(f"{method} --preset cpu_small --epochs=1")
    for run in code[1:3]:  # both runs trained 1 epoch on the smoke subset and evaluated
        report = _text(run)
        assert f"{method} on fashion_mnist: 1 epoch in " in report and "pretrained " in report
    accuracies = re.fullmatch(r"knn_acc: (0\.\d{4}|1\.0000)\nlinear_acc: (0\.\d{4}|1\.0000)\n",
                              _text(code[3]))
    assert accuracies, _text(code[3])
    assert not (tmp_path / "saved_models").exists()  # smoke mode: --export=


def test_the_quickstart_notebook_runs_and_shows_the_figures_the_export_and_the_map(
        tmp_path, monkeypatch):
    notebook = _execute(NOTEBOOK, tmp_path, monkeypatch, timeout=300)
    text = _text
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "smoke test" in text(code[0])
    assert text(code[1]).startswith("(10000, 28, 28, 1) uint8 labels [0, 1, 2, 3, 4, 5, 6, 7, 8")
    assert any("image/png" in output.get("data", {}) for output in code[1].outputs)
    assert "pretrained, " in text(code[2]) and "at random init" in text(code[2])
    work = tmp_path / "quickstart_outputs"
    assert (work / "simclr_export" / "1" / "saved_model.pb").exists()
    assert "(100, " in text(code[4]) and "photo_0000.png" in text(code[4])
    assert (work / "map.png").read_bytes()[:4] == b"\x89PNG"
    shown = code[5].outputs[-1]
    assert shown.output_type == "execute_result" and "image/png" in shown.data
