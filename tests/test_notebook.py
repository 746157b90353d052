"""``notebooks/quickstart.ipynb``, the newcomer's notebook: the committed file is
what ``notebooks/make_quickstart.py`` writes, and it runs headless (nbclient, a
fresh kernel) with ``KC_NOTEBOOK_SMOKE=1``.  Needs the ``notebook`` extra
(``pip install -e ".[notebook]"``: nbclient, nbformat, ipykernel); skipped
without it."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"

_MISSING = [name for name in ("nbclient", "nbformat", "ipykernel")
            if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"the notebook tests need {', '.join(_MISSING)}: "
    "pip install -e \".[notebook]\" (not in `make install`: about 45 MB with IPython and debugpy)")


def test_the_committed_notebook_is_the_generated_one():
    import nbformat

    sys.path.insert(0, str(ROOT / "notebooks"))
    try:
        import make_quickstart
    finally:
        sys.path.remove(str(ROOT / "notebooks"))
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert committed == make_quickstart.notebook(), (
        "notebooks/quickstart.ipynb differs from what make_quickstart.py writes: run "
        "python notebooks/make_quickstart.py")
    assert all(not cell.get("outputs") for cell in committed.cells)  # committed unexecuted


def test_the_quickstart_notebook_runs_and_shows_the_figures_the_export_and_the_map(
        tmp_path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("KC_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    # the kernel imports this checkout's package, whatever the environment installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    def text(cell):
        return "".join(output.get("text", "") for output in cell.outputs)

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
