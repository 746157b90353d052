"""``embed``: a folder of real PNG/JPEG files (mixed sizes, grey, RGBA, a
corrupt file) through an export's serving preprocessing, nearest neighbours
against brute force, the output files, the map, the grid, TensorBoard's
projector files read back as its plugin reads them, and the command.

One tiny export (16x16 RGB, ``Flatten -> Dense(4)``, so every pixel counts)
is built for the module."""
import csv
import io
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_contrastive import embed, embedding_plots
from keras_contrastive.export import export_encoder

SIZE = 16
# (class, file name, (height, width), Pillow mode)
FILES = [("circles", "a.png", (20, 24), "RGB"), ("circles", "b.jpg", (32, 16), "RGB"),
         ("circles", "c.png", (16, 16), "L"), ("circles", "d.png", (28, 28), "RGBA"),
         ("squares", "e.png", (24, 20), "RGB"), ("squares", "f.jpg", (18, 30), "L"),
         ("squares", "g.png", (16, 16), "RGB"), ("squares", "h.png", (30, 22), "RGB")]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Replaces conftest's per-test ``clear_session``: the module's encoder is shared."""
    yield


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for label, name, (height, width), mode in FILES:
        os.makedirs(root / label, exist_ok=True)
        pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGBA").convert(mode)
        image.save(root / label / name, quality=95) if name.endswith(".jpg") else \
            image.save(root / label / name)
    (root / "squares" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / ".DS_Store").write_bytes(b"junk")
    return root


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(4)])


@pytest.fixture(scope="module")
def export_dir(encoder, tmp_path_factory):
    return export_encoder(encoder, tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def embedded(export_dir, folder):
    with pytest.warns(UserWarning, match=r"embed: skipped 1 of 9 files .*broken\.png"):
        return embed.embed_folder(export_dir, folder, thumbnail_size=12)


def _served_reference(encoder, path):
    """What the documented serving preprocessing makes of a file, computed apart:
    decoded (Pillow for PNG, TensorFlow for JPEG, whose decoders may round
    differently), grey repeated, alpha dropped, bilinear antialiased resize rounded to uint8
    levels (``data.preprocess``)."""
    data = open(path, "rb").read()
    if path.suffix == ".jpg":
        pixels = tf.io.decode_image(data, expand_animations=False).numpy()
    else:
        pixels = np.asarray(Image.open(io.BytesIO(data)))
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    pixels = np.repeat(pixels, 3, -1) if pixels.shape[-1] == 1 else pixels[..., :3]
    return encoder(_resized(pixels)).numpy()[0]


def _resized(pixels):
    """One uint8 image ``[h, w, 3]`` resized to ``SIZE`` (bilinear, antialiased), rounded
    to uint8 levels, in [0, 1], as a batch of one."""
    resized = tf.image.resize(pixels[None].astype("float32"), (SIZE, SIZE), antialias=True)
    return (np.round(np.clip(resized.numpy(), 0, 255)) / 255.0).astype("float32")


def test_a_folders_embeddings_are_the_served_ones_with_names_labels_and_the_corrupt_file_skipped(
        embedded, encoder, folder):
    assert embedded.names == [f"{label}/{name}" for label, name, _, _ in FILES]
    assert embedded.class_names == ["circles", "squares"]
    assert embedded.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [os.path.basename(file) for file, _ in embedded.skipped] == ["broken.png"]
    expected = np.stack([_served_reference(encoder, folder / name) for name in embedded.names])
    np.testing.assert_allclose(embedded.embeddings, expected, atol=1e-5)
    assert embedded.thumbnails.shape == (8, 12, 12, 3)
    assert len(np.unique(embedded.embeddings.round(4), axis=0)) == 8


def test_a_keras_file_embeds_as_its_export_and_an_unlabelled_folder_has_no_labels(
        encoder, embedded, folder, tmp_path):
    encoder.save(tmp_path / "encoder.keras")
    with pytest.warns(UserWarning, match="skipped 1 of 5"):
        result = embed.embed_folder(str(tmp_path / "encoder.keras"), folder / "squares")
    assert result.labels is None and result.class_names == []
    assert result.names == [name for label, name, _, _ in FILES if label == "squares"]
    np.testing.assert_allclose(result.embeddings, embedded.embeddings[4:], atol=1e-6)


def test_files_the_export_refuses_are_skipped_and_named(encoder, embedded, folder, tmp_path):
    small = export_encoder(encoder, tmp_path / "small", max_pixels=500)  # 20x24 = 480 passes
    with pytest.warns(UserWarning, match=r"skipped 5 of 9 files"):
        result = embed.embed_folder(small, folder, batch_size=3)
    kept = [name for _, name, (height, width), _ in FILES if height * width <= 500]
    assert [os.path.basename(name) for name in result.names] == kept == ["a.png", "c.png",
                                                                       "e.png", "g.png"]
    refused = [why for _, why in result.skipped if why.startswith("refused by the export")]
    assert refused == ["refused by the export: over its max_pixels=500 pixels"] * 4
    rows = [embedded.names.index(name) for name in result.names]
    np.testing.assert_allclose(result.embeddings, embedded.embeddings[rows], atol=1e-6)


def test_arrays_of_two_sizes_go_through_serve_uint8(export_dir, encoder):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, shape, dtype=np.uint8)
              for shape in [(20, 20, 3)] * 3 + [(24, 18, 1)] * 2]
    result = embed.embed_arrays(export_dir, images, labels=[1, 0, 1, 0, 0], batch_size=2)
    expected = [encoder(_resized(np.repeat(x, 3 // x.shape[-1], -1)))[0] for x in images]
    np.testing.assert_allclose(result.embeddings, np.stack(expected), atol=1e-5)
    assert result.names == ["0", "1", "2", "3", "4"] and result.labels.tolist() == [1, 0, 1, 0, 0]


def test_a_tfds_split_of_mixed_sizes_embeds_with_indices_labels_and_class_names(
        export_dir, encoder, tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from keras_contrastive.data import from_tfds
    from tests.test_pretraining_data import KcMixedSizes, write_image_folder

    sizes = [(20, 24), (31, 17)]
    write_image_folder(tmp_path / "source" / "train", 6, sizes=sizes)
    write_image_folder(tmp_path / "source" / "test", 2, sizes=sizes, seed=1)
    monkeypatch.setattr(KcMixedSizes, "SOURCE", str(tmp_path / "source"))
    KcMixedSizes(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path / "tfds"))
    result = embed.embed(export_dir, "kc_mixed_sizes", split="train", limit=5, neighbours=2)
    images, labels = zip(*from_tfds("kc_mixed_sizes", split="train[:5]").as_numpy_iterator())
    assert result.names == ["0", "1", "2", "3", "4"] and result.source == "kc_mixed_sizes:train"
    assert result.class_names == ["c000", "c001"] and result.labels.tolist() == list(labels)
    expected = [encoder(_resized(x))[0] for x in images]
    np.testing.assert_allclose(result.embeddings, np.stack(expected), atol=1e-5)
    assert result.neighbours.shape == (5, 2)


def _brute_force(points, k):
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    scores = unit @ unit.T
    np.fill_diagonal(scores, -np.inf)
    order = [sorted(range(len(points)), key=lambda j: (-scores[i, j], j))[:k]
             for i in range(len(points))]
    return np.array(order), np.take_along_axis(scores, np.array(order), 1)


def test_exact_neighbours_in_small_blocks_match_brute_force():
    points = np.random.default_rng(2).normal(size=(50, 8)).astype("float32")
    points[7] = points[3] * 2.0  # a tie at similarity 1 with 3, itself excluded
    expected, similarities = _brute_force(points.astype("float64"), 4)
    found, found_similarities = embed.nearest_neighbours(points, 4, "exact",
                                                         block_bytes=4 * 50 * 3)
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_allclose(found_similarities, similarities, atol=1e-5)
    assert found[3, 0] == 7 and found[7, 0] == 3
    rows, _ = embed.nearest_neighbours(points, 4, "exact", queries=[5, 3])
    np.testing.assert_array_equal(rows, expected[[5, 3]])
    with pytest.raises(ValueError, match="from 1 to 49"):
        embed.nearest_neighbours(points, 50)


def test_faiss_agrees_with_the_exact_search():
    pytest.importorskip("faiss")
    points = np.random.default_rng(3).normal(size=(300, 16)).astype("float32")
    exact = embed.nearest_neighbours(points, 5, "exact")
    approximate = embed.nearest_neighbours(points, 5, "faiss")
    np.testing.assert_array_equal(approximate[0], exact[0])
    np.testing.assert_allclose(approximate[1], exact[1], atol=1e-5)


def test_npz_csv_and_parquet_hold_names_labels_embeddings_and_neighbours(
        embedded, tmp_path, monkeypatch):
    result = embed.Embeddings(**{**vars(embedded), "thumbnails": None})
    result.add_neighbours(2)
    back = embed.load_embeddings(embed.save_embeddings(result, tmp_path / "e.npz"))
    assert back.names == result.names and back.class_names == result.class_names
    np.testing.assert_array_equal(back.embeddings, result.embeddings)
    np.testing.assert_array_equal(back.labels, result.labels)
    np.testing.assert_array_equal(back.neighbours, result.neighbours)

    with open(embed.save_embeddings(result, tmp_path / "e.csv"), newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["name"] for row in rows] == result.names
    assert [row["class"] for row in rows] == result.label_names()
    stored = np.array([[float(row[f"e{i}"]) for i in range(4)] for row in rows], "float32")
    np.testing.assert_array_equal(stored, result.embeddings)
    assert [row["neighbour_1"] for row in rows] == [result.names[i] for i in result.neighbours[:, 0]]

    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    table = pyarrow_parquet.read_table(embed.save_embeddings(result, tmp_path / "e.parquet"))
    assert table.column("name").to_pylist() == result.names
    np.testing.assert_array_equal(np.array(table.column("embedding").to_pylist(), "float32"),
                                  result.embeddings)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ValueError, match=r"needs pyarrow \(pip install pyarrow\)"):
        embed.save_embeddings(result, tmp_path / "again.parquet")
    with pytest.raises(ValueError, match=r"--out must end in \.npz, \.csv, \.parquet"):
        embed.save_embeddings(result, tmp_path / "e.txt")


def test_pca_map_keeps_a_planes_distances_and_says_pca_without_umap(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    plane = rng.normal(size=(40, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0]  # orthonormal columns in 6-D
    points = (plane @ basis.T + 5.0).astype("float32")
    monkeypatch.setitem(sys.modules, "umap", None)
    xy, name = embedding_plots.project_2d(points)
    assert name == "PCA"

    def distances(p):
        return np.linalg.norm(p[:, None] - p[None], axis=-1)

    np.testing.assert_allclose(distances(xy), distances(plane), atol=1e-4)
    result = embed.Embeddings(points, [str(i) for i in range(40)], np.arange(40) % 2,
                              ["left", "right"], "toy")
    path = tmp_path / "map.png"
    assert embedding_plots.plot_map(result, path) == "PCA"
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="needs umap-learn"):
        embedding_plots.project_2d(points, "umap")


def test_the_grid_has_a_row_per_query_and_a_column_per_neighbour(embedded, tmp_path):
    path = tmp_path / "grid.png"
    queries = embedding_plots.plot_neighbour_grid(embedded, path, queries=3, k=2)
    assert queries.tolist() == [0, 4, 7]  # spread over both classes
    # figsize (1.3 per column, 1.45 per row) inches at 120 dpi
    assert Image.open(path).size == (round(1.3 * 3 * 120), round(1.45 * 3 * 120))
    without = embed.Embeddings(embedded.embeddings, embedded.names)
    with pytest.raises(ValueError, match="thumbnail_size"):
        embedding_plots.plot_neighbour_grid(without, path)


def test_projector_files_read_back_as_tensorboards_plugin_reads_them(embedded, tmp_path,
                                                                     monkeypatch):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2, projector_plugin

    config_path = embedding_plots.write_projector(embedded, tmp_path)
    config = text_format.Parse(open(config_path).read(), projector_config_pb2.ProjectorConfig())
    (info,) = config.embeddings
    assert list(info.tensor_shape) == [8, 4]

    def resolve(name):  # the plugin's own resolution, refusing paths out of the folder
        return projector_plugin._rel_to_abs_asset_path(name, config_path)

    np.testing.assert_allclose(projector_plugin._read_tensor_tsv_file(resolve(info.tensor_path)),
                               embedded.embeddings, rtol=1e-6)
    metadata = open(resolve(info.metadata_path)).read().splitlines()
    assert metadata[0] == "name\tclass" and metadata[1] == "circles/a.png\tcircles"
    assert len(metadata) == 9
    sprite = np.asarray(Image.open(resolve(info.sprite.image_path)))
    assert list(info.sprite.single_image_dim) == [12, 12]
    assert sprite.shape == (12 * 3, 12 * 3, 3)  # ceil(sqrt(8)) = 3 a side
    np.testing.assert_array_equal(sprite[12:24, 24:36], embedded.thumbnails[5])  # row 1, col 2
    monkeypatch.setattr(embedding_plots, "SPRITE_MAX", 30)  # 3 x 12 > 30: shrunk to 10
    small, size = embedding_plots._sprite(embedded.thumbnails)
    assert size == 10 and small.shape == (30, 30, 3)


def test_the_embed_command_writes_the_file_and_the_pictures(export_dir, folder, tmp_path):
    """In this process (``test_cli`` runs the installed command in a subprocess)."""
    from tests.test_cli import _run

    out = tmp_path / "embeddings.csv"
    with pytest.warns(UserWarning, match="skipped 1 of 9"):
        result = _run("embed", export_dir, folder, "--out", out, "--neighbours", 3, "--map",
                      tmp_path / "map.png", "--grid", tmp_path / "grid.png", "--grid-queries", 2,
                      "--projector", tmp_path / "projector")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "embedded 8 images" in result.stdout and "1 skipped" in result.stdout
    assert "3 nearest neighbours of each image (exact, cosine)" in result.stdout
    method = "UMAP" if "UMAP" in result.stdout else "PCA"
    assert f"map of the embeddings ({method})" in result.stdout
    with open(out, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 8 and rows[0]["neighbour_3"] in {row["name"] for row in rows}
    for picture in ("map.png", "grid.png", "projector/sprite.png"):
        assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG", picture
    assert Image.open(tmp_path / "grid.png").size == (round(1.3 * 4 * 120), round(1.45 * 2 * 120))


def test_the_embed_command_refuses_in_the_users_words(export_dir, folder, tmp_path):
    from tests.test_cli import _run

    result = _run("embed", export_dir, folder, "--out", tmp_path / "e.txt")
    assert result.returncode == 2 and "--out must end in .npz, .csv, .parquet" in result.stderr
    result = _run("embed", tmp_path / "nothing", folder, "--out", tmp_path / "e.npz")
    assert result.returncode == 2 and "no export or .keras model" in result.stderr
    result = _run("embed", export_dir, "./no_such_folder", "--out", tmp_path / "e.npz")
    assert result.returncode == 2 and "no such folder" in result.stderr
