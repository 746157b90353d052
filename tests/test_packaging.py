"""The wheel: built from the sources, installed in a folder of its own, imported and
run from there (not from this checkout)."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what setup.py reads; pyproject.toml, setup.cfg and MANIFEST.in where a later change adds them
_BUILD_INPUTS = ("setup.py", "README.md", "pyproject.toml", "setup.cfg", "MANIFEST.in")


def _sources(tmp_path):
    """A copy of the files the build reads, without caches or an old build/: the wheel
    holds what the sources say, not what a stale build folder of this checkout holds."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "keras_contrastive", source / "keras_contrastive",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in _BUILD_INPUTS:
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    return source


def _pip(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--no-deps", "--no-index",
                             "--no-build-isolation", "--quiet"],
                            capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_wheel_holds_every_module_and_the_command_and_runs_from_where_it_is_installed(
        tmp_path):
    """Every module of the package (the generated ``_method_manifest`` included) is in
    the wheel, no test or benchmark is, and the console script is declared.  Installed
    with ``pip install --target``, ``import keras_contrastive`` and ``python -m
    keras_contrastive --help`` run from the installed files (a folder outside the
    checkout, the checkout's sources off the path), as does the installed
    ``keras-contrastive --version``."""
    source = _sources(tmp_path)
    _pip("wheel", ".", "-w", str(tmp_path / "dist"), cwd=source)
    (wheel,) = (tmp_path / "dist").glob("keras_contrastive-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(str(path.relative_to(ROOT)).replace(os.sep, "/")
                     for path in (ROOT / "keras_contrastive").rglob("*.py")
                     if "__pycache__" not in path.parts)
    assert "keras_contrastive/_method_manifest.py" in modules
    assert sorted(n for n in names if n.endswith(".py")) == modules
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "recipes/"))]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert ("keras-contrastive = keras_contrastive.cli:run"
            in zipfile.ZipFile(wheel).read(entry_points).decode())

    target = tmp_path / "installed"
    _pip("install", "--target", str(target), str(wheel), cwd=tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # the installed folder first; the interpreter's own site-packages give TensorFlow
    env = dict(os.environ, PYTHONPATH=str(target), TF_CPP_MIN_LOG_LEVEL="3")

    def run(*command):
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                cwd=outside, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    printed = run(sys.executable, "-c", "import keras_contrastive as k; "
                  "print(k.__version__); print(k.__file__)").split()
    from keras_contrastive import __version__

    assert printed[0] == __version__
    assert Path(printed[1]).resolve().is_relative_to(target.resolve()), printed[1]
    helped = run(sys.executable, "-m", "keras_contrastive", "--help")
    for command in ("pretrain", "export", "evaluate", "embed", "views"):
        assert command in helped, command
    script = target / "bin" / "keras-contrastive"
    assert run(sys.executable, str(script), "--version").split() == [
        "keras-contrastive", __version__]
