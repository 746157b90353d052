"""A newcomer's path end to end: a folder of real images without labels ->
``pretrain`` -> ``export`` -> ``embed`` with neighbours and a map, the last step
through the installed ``keras-contrastive`` console script."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.test_cli import _run

ROOT = Path(__file__).resolve().parents[1]
COUNT = 300


def _console_script():
    """The ``keras-contrastive`` script pip wrote beside this interpreter."""
    script = Path(sys.executable).with_name("keras-contrastive")
    assert script.exists(), (f"no {script}: install the package (make install, or pip install "
                             "-e .) so that its console script exists")
    return script


def test_an_unlabelled_folder_of_photos_to_embeddings_neighbours_and_a_map(
        tmp_path, fashion_mnist_test):
    """300 Fashion-MNIST test images as PNG files in one folder (no class
    sub-folders): pretrained for one epoch on 128 of them (the run says it skips
    the evaluation), the saved model exported, and every file embedded by the
    console script with 5 neighbours and a map.  The .npz holds one row per file,
    the export's own embedding of each file, and 5 other files as neighbours."""
    photos = tmp_path / "photos"
    photos.mkdir()
    images = fashion_mnist_test[0][:COUNT]
    for index, image in enumerate(images):
        Image.fromarray(image[..., 0]).save(photos / f"item_{index:03d}.png")

    trained = _run("pretrain", "--dataset", photos, "--preset", "demo", "--epochs", "1",
                   "--train-subset", "128", "--batch-size", "64", "--width", "2",
                   "--save-model", tmp_path / "run.keras")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "no labels: evaluation skipped" in trained.stdout
    exported = _run("export", tmp_path / "run.keras", "--out", tmp_path / "export")
    assert exported.returncode == 0, exported.stderr[-3000:]

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    embedded = subprocess.run(
        [str(_console_script()), "embed", str(tmp_path / "export"), str(photos), "--out",
         str(tmp_path / "embeddings.npz"), "--neighbours", "5", "--map",
         str(tmp_path / "map.png")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    assert f"embedded {COUNT} images" in embedded.stdout and "unlabelled" in embedded.stdout

    with np.load(tmp_path / "embeddings.npz", allow_pickle=False) as saved:
        names, embeddings = list(saved["names"]), saved["embeddings"]
        neighbours = saved["neighbours"]
        assert "labels" not in saved.files
    assert sorted(names) == sorted(path.name for path in photos.iterdir())
    assert embeddings.shape[0] == COUNT and np.isfinite(embeddings).all()
    assert neighbours.shape == (COUNT, 5)
    assert not (neighbours == np.arange(COUNT)[:, None]).any()  # never itself
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"

    from keras_contrastive.export import load_encoder

    encoder = load_encoder(tmp_path / "export")
    assert encoder.input_shape == (None, 28, 28, 3)  # a folder's model is RGB: grey repeated
    rows = [names.index(f"item_{index:03d}.png") for index in (0, 7)]
    grey = images[[0, 7]].astype("float32") / 255.0
    np.testing.assert_allclose(embeddings[rows], encoder(np.repeat(grey, 3, axis=-1)), atol=1e-5)
