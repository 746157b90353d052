"""A newcomer's path end to end: a folder of real photos without labels ->
``pretrain`` -> ``export`` -> ``embed`` with neighbours and a map (through the
installed ``keras-contrastive`` console script) -> a JPEG served by the export."""
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


def _photo_folder(folder, count, seed=0):
    """``count`` JPEG files of mixed sizes (48-160 px a side), random crops of the two
    real photos scikit-learn ships (``load_sample_images``: china.jpg, flower.jpg)."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for index in range(count):
        photo = photos[index % len(photos)]
        height, width = rng.integers(48, 161, size=2)
        top = rng.integers(0, photo.shape[0] - height + 1)
        left = rng.integers(0, photo.shape[1] - width + 1)
        Image.fromarray(photo[top:top + height, left:left + width]).save(
            folder / f"photo_{index:03d}.jpg", quality=90)
    return folder


def test_an_unlabelled_folder_of_photos_to_embeddings_neighbours_a_map_and_a_served_jpeg(
        tmp_path):
    """300 crops of real photos (JPEG, mixed sizes) in one folder (no class
    sub-folders): pretrained for one epoch on 128 of them at 32 px (the run says
    it skips the evaluation), the saved model exported, every file embedded by the
    console script with 5 neighbours and a map, and one JPEG sent as bytes to the
    export's ``serve_bytes`` gets the embedding ``embed`` wrote for it.  The .npz
    holds one row per file and 5 other files as neighbours."""
    photos = _photo_folder(tmp_path / "photos", COUNT)
    trained = _run("pretrain", "--dataset", photos, "--preset", "demo", "--epochs", "1",
                   "--train-subset", "128", "--batch-size", "64", "--width", "2",
                   "--image-size", "32", "--save-model", tmp_path / "run.keras")
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
    assert len(np.unique(embeddings.round(5), axis=0)) == COUNT  # not one point
    assert neighbours.shape == (COUNT, 5)
    assert not (neighbours == np.arange(COUNT)[:, None]).any()  # never itself
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"

    import tensorflow as tf

    version = tmp_path / "export" / "1"  # what TF Serving loads from the base folder
    served = tf.saved_model.load(str(version)).signatures["serve_bytes"]
    for name in ("photo_000.jpg", "photo_007.jpg"):
        reply = served(image_bytes=tf.constant([(photos / name).read_bytes()]))
        np.testing.assert_allclose(reply["embedding"].numpy()[0],
                                   embeddings[names.index(name)], atol=1e-5)
