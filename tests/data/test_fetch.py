"""Tests of keras_contrastive/data/fetch.py (`make data`), without network or apt."""
import os
import subprocess
import sys
import time

from keras_contrastive.data import fashion_mnist, fetch

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_fetch_reports_existing_files_quickly_without_importing_tensorflow(
    write_fashion_mnist_subset, tmp_path
):
    directory = write_fashion_mnist_subset(tmp_path / "fm", 12)
    env = dict(os.environ, KERAS_CONTRASTIVE_DATA=directory, PYTHONPATH=_REPO)
    script = (
        "import sys\n"
        "from keras_contrastive.data import fetch\n"
        "status = fetch.main(['--no-install', '--no-download'])\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'tensorflow_datasets') if m in sys.modules)\n"
        "print('imported:', heavy)\n"
        "sys.exit(status)\n"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert f"12 train and 12 test images in {directory}" in result.stdout
    assert "imported: []" in result.stdout
    assert elapsed < 5.0  # about 0.3 s; generous for a busy 2-core machine


def test_fetch_module_runs_as_a_script(write_fashion_mnist_subset, tmp_path):
    directory = write_fashion_mnist_subset(tmp_path / "fm", 3)
    env = dict(os.environ, KERAS_CONTRASTIVE_DATA=directory, PYTHONPATH=_REPO)
    result = subprocess.run(
        [sys.executable, "-m", "keras_contrastive.data.fetch", "--no-install", "--no-download"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert directory in result.stdout


def test_fetch_exits_nonzero_listing_searched_places_when_nothing_is_found(
    isolated_search, tmp_path, capsys
):
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    status = fetch.main(["--data-dir", str(empty), "--no-install", "--no-download"])
    err = capsys.readouterr().err
    assert status == 1
    assert str(empty) in err and str(isolated_search) in err
    assert "apt-get install dataset-fashion-mnist: skipped (--no-install)" in err
    assert "download=False" in err


def test_fetch_exits_nonzero_on_corrupt_files(isolated_search, write_fashion_mnist_subset, tmp_path, capsys):
    directory = write_fashion_mnist_subset(tmp_path / "fm", 5)
    with open(os.path.join(directory, fashion_mnist.FILES["train"][1]), "wb") as stream:
        stream.write(b"not gzip at all")
    status = fetch.main(["--data-dir", directory, "--no-install", "--no-download"])
    assert status == 1
    assert "not a complete gzip file" in capsys.readouterr().err
