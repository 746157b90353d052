"""The wheel: built from the sources, installed in a fresh virtual environment,
imported and run from there (not from this checkout), a one-batch pretrain
included."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

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
    in a fresh virtual environment, ``import keras_contrastive`` and ``python -m
    keras_contrastive --help`` run from the installed files (a folder outside the
    checkout, the checkout's sources off the path), as do the installed
    ``keras-contrastive --version`` and a one-batch ``pretrain``."""
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

    # a fresh virtual environment: no pip, no site-packages of its own but the wheel; its
    # dependencies (TensorFlow, ...) from this interpreter's site-packages through a .pth
    # line (a path only: the editable install of this checkout there is not processed)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    (site_packages,) = (venv / "lib").glob("python3*/site-packages")
    (site_packages / "_dependencies.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    _pip("--python", str(python), "install", str(wheel), cwd=tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"

    def run(*command):
        result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                cwd=outside, env=env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result.stdout

    printed = run(str(python), "-c", "import keras_contrastive as k; "
                  "print(k.__version__); print(k.__file__)").split()
    from keras_contrastive import __version__

    assert printed[0] == __version__
    assert Path(printed[1]).resolve().is_relative_to(site_packages.resolve()), printed[1]
    helped = run(str(python), "-m", "keras_contrastive", "--help")
    for command in ("pretrain", "export", "evaluate", "embed", "views"):
        assert command in helped, command
    script = venv / "bin" / "keras-contrastive"
    assert script.read_text().splitlines()[0] == f"#!{python}"  # the fresh venv's own
    assert run(str(script), "--version").split() == ["keras-contrastive", __version__]

    # one batch of pretraining from the installed command, on a folder of 32 PNG files
    photos = outside / "photos"
    photos.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 20, 20, 3), dtype=np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(photos / f"{index:02d}.png")
    trained = run(str(script), "pretrain", "--dataset", str(photos), "--preset", "demo",
                  "--epochs", "1", "--batch-size", "32", "--width", "2",
                  "--save-model", str(outside / "run.keras"))
    assert "1 epoch of 1 step, batch 32" in trained, trained[-2000:]
    assert (outside / "run.keras").stat().st_size > 0
