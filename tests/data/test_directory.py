"""Tests of keras_contrastive/data/directory.py on real Fashion-MNIST images written to files."""
import io
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.data import from_directory, scan_image_directory


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(data)
    return str(path)


def _png(image):
    return tf.io.encode_png(image).numpy()


def _rgb(gray):
    """A colour image made from a grayscale one (channels differ, so colour matters)."""
    return np.concatenate([gray, 255 - gray, gray // 2], axis=-1)


@pytest.fixture
def class_tree(tmp_path, fashion_mnist_train):
    """root/<class name>/<i>.png holding real images: 3 per class, 3 classes."""
    images, labels = fashion_mnist_train
    written = {}  # path -> (image, label index)
    for label_index, label in enumerate([0, 1, 9]):  # sorted names: a_tshirt, b_trouser, c_boot
        name = ["a_tshirt", "b_trouser", "c_boot"][label_index]
        for i, index in enumerate(np.flatnonzero(labels == label)[:3]):
            path = _write(tmp_path / "root" / name / f"{i}.png", _png(images[index]))
            written[path] = (images[index], label_index)
    return tmp_path / "root", written


def test_class_subfolders_give_sorted_int64_labels_and_exact_pixels(class_tree):
    root, written = class_tree
    ds = from_directory(root, channels=1)
    assert ds.element_spec == (tf.TensorSpec([28, 28, 1], tf.uint8), tf.TensorSpec([], tf.int64))
    got = [(image.numpy(), int(label)) for image, label in ds]
    expected = [written[path] for path in sorted(written)]
    assert [label for _, label in got] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for (image, label), (want_image, want_label) in zip(got, expected):
        np.testing.assert_array_equal(image, want_image)
        assert label == want_label


def test_scan_reports_files_labels_class_names_and_shapes(class_tree):
    root, written = class_tree
    scan = scan_image_directory(root)
    assert scan.class_names == ["a_tshirt", "b_trouser", "c_boot"]
    assert scan.files == sorted(written)
    assert scan.labels == [written[f][1] for f in scan.files]
    assert scan.shapes == [(28, 28, 1)] * 9 and scan.skipped == []


def test_flat_directory_and_labels_none_yield_images_only(class_tree, tmp_path, fashion_mnist_train):
    root, written = class_tree
    unlabeled = from_directory(root, channels=1, labels=None)
    assert unlabeled.element_spec == tf.TensorSpec([28, 28, 1], tf.uint8)
    assert len(list(unlabeled)) == 9
    flat = tmp_path / "flat"
    for i in range(4):
        _write(flat / f"{i}.png", _png(fashion_mnist_train[0][i]))
    ds = from_directory(flat, channels=1)
    assert ds.element_spec == tf.TensorSpec([28, 28, 1], tf.uint8)
    np.testing.assert_array_equal(np.stack(list(ds)), fashion_mnist_train[0][:4])
    assert scan_image_directory(flat).labels is None


def test_corrupt_files_are_skipped_and_counted(class_tree, fashion_mnist_train):
    root, written = class_tree
    png = _png(fashion_mnist_train[0][0])
    jpeg = tf.io.encode_jpeg(fashion_mnist_train[0][0], quality=95).numpy()
    bad = {
        _write(root / "a_tshirt" / "truncated.png", png[: len(png) // 2]),
        _write(root / "a_tshirt" / "truncated.jpg", jpeg[: len(jpeg) // 2]),
        _write(root / "b_trouser" / "empty.png", b""),
        _write(root / "b_trouser" / "notes.txt", b"not an image"),
        _write(root / "c_boot" / "fake.jpg", b"\xff\xd8\xff garbage"),
        _write(root / "c_boot" / "random.bmp", os.urandom(300)),
        _write(root / "stray.png", png),  # valid, but outside any class sub-folder
    }
    with pytest.warns(UserWarning, match=r"skipped 7 of 16 files") as caught:
        ds = from_directory(root, channels=1)
    message = str(caught[0].message)
    assert "and 2 more" in message  # the first five are named, the rest counted
    assert sum(os.path.basename(p) in message for p in bad) == 5
    # Every good image is there and iterating never hits a bad file.
    assert len([label for _, label in ds]) == 9
    scan = scan_image_directory(root)
    assert {path for path, _ in scan.skipped} == bad
    reasons = dict(scan.skipped)
    assert "Unknown image file format" in reasons[str(root / "b_trouser" / "notes.txt")]
    assert "empty" in reasons[str(root / "b_trouser" / "empty.png")]
    assert "class sub-folder" in reasons[str(root / "stray.png")]


def test_only_bad_files_or_an_empty_directory_raise_naming_the_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"No readable image files in {empty}"):
        from_directory(empty)
    junk = tmp_path / "junk"
    _write(junk / "a.png", b"\x89PNG broken")
    with pytest.raises(ValueError, match=f"No readable image files in {junk} .*a.png"):
        from_directory(junk)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        from_directory(tmp_path / "missing")


def test_mixed_sizes_raise_suggesting_image_size(tmp_path):
    _write(tmp_path / "d" / "small.png", _png(np.zeros([8, 8, 3], np.uint8)))
    _write(tmp_path / "d" / "wide.png", _png(np.zeros([8, 12, 3], np.uint8)))
    with pytest.raises(ValueError, match=r"2 different sizes.*8x12.*image_size=\(height, width\)"):
        from_directory(tmp_path / "d")


def test_image_size_resizes_every_image_to_uint8(tmp_path):
    ramp = np.tile(np.arange(0, 256, 32, dtype=np.uint8)[None, :, None], [8, 1, 3])  # 8x8
    _write(tmp_path / "d" / "a.png", _png(ramp))
    _write(tmp_path / "d" / "b.png", _png(np.full([20, 30, 3], 200, np.uint8)))
    ds = from_directory(tmp_path / "d", image_size=(16, 16))
    assert ds.element_spec == tf.TensorSpec([16, 16, 3], tf.uint8)
    a, b = [x.numpy() for x in ds]
    expected = tf.cast(tf.round(tf.image.resize(ramp, (16, 16))), tf.uint8).numpy()
    np.testing.assert_array_equal(a, expected)
    assert (b == 200).all()
    assert a.min() == 0 and a.max() == 224 and len(np.unique(a)) > 8  # interpolated


def test_every_supported_format_decodes_to_the_requested_channels(tmp_path, fashion_mnist_train):
    Image = pytest.importorskip("PIL.Image")
    rgb = _rgb(fashion_mnist_train[0][0])

    def pil(fmt):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format=fmt)
        return buffer.getvalue()

    frames = io.BytesIO()  # a 2-frame GIF: only the first frame is used
    Image.fromarray(rgb).save(
        frames, format="GIF", save_all=True, append_images=[Image.fromarray(255 - rgb)]
    )
    root = tmp_path / "formats"
    _write(root / "a.png", _png(rgb))
    _write(root / "b.bmp", pil("BMP"))
    _write(root / "c.jpg", tf.io.encode_jpeg(rgb, quality=100, chroma_downsampling=False).numpy())
    _write(root / "d.gif", frames.getvalue())
    _write(root / "e.png", _png(fashion_mnist_train[0][1]))  # a grayscale file
    _write(root / "f.png", _png(np.concatenate([rgb, np.full_like(rgb[..., :1], 7)], -1)))
    scan = scan_image_directory(root)
    assert scan.skipped == []
    assert [s[-1] for s in scan.shapes] == [3, 3, 3, 3, 1, 4]

    rgb_images = [x.numpy() for x in from_directory(root, channels=3)]
    np.testing.assert_array_equal(rgb_images[0], rgb)  # PNG: lossless
    np.testing.assert_array_equal(rgb_images[1], rgb)  # BMP: lossless
    assert np.abs(rgb_images[2].astype(int) - rgb).mean() < 3  # JPEG: lossy
    assert np.abs(rgb_images[3].astype(int) - rgb).mean() < 10  # GIF: palette, first frame
    np.testing.assert_array_equal(rgb_images[4], np.repeat(fashion_mnist_train[0][1], 3, -1))
    np.testing.assert_array_equal(rgb_images[5], rgb)  # alpha dropped

    gray = [x.numpy() for x in from_directory(root, channels=1)]
    np.testing.assert_array_equal(gray[4], fashion_mnist_train[0][1])
    # BT.601 luma, rounded: the serving signatures' rule too (data.preprocess)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    expected_gray = np.round(np.sum(rgb.astype(np.float32) * luma, -1, keepdims=True))
    expected_gray = expected_gray.astype(np.uint8)
    np.testing.assert_array_equal(gray[0], expected_gray)
    np.testing.assert_array_equal(gray[1], expected_gray)

    rgba = [x.numpy() for x in from_directory(root, channels=4)]
    assert all(x.shape == (28, 28, 4) for x in rgba)
    assert (rgba[0][..., 3] == 255).all() and (rgba[5][..., 3] == 7).all()


def test_shuffle_files_is_seeded_and_keeps_image_label_pairs(class_tree):
    root, written = class_tree
    pixels_to_label = {image.tobytes(): label for image, label in written.values()}

    def order(ds):
        return [(x.numpy().tobytes(), int(y)) for x, y in ds]

    ds = from_directory(root, channels=1, shuffle_files=True, seed=3)
    first = order(ds)
    assert order(from_directory(root, channels=1, shuffle_files=True, seed=3)) == first
    assert sorted(first) == sorted(order(from_directory(root, channels=1)))
    assert first != order(from_directory(root, channels=1))
    assert all(pixels_to_label[x] == y for x, y in first)


def test_bad_arguments_raise_naming_them(class_tree):
    root, _ = class_tree
    with pytest.raises(ValueError, match="channels=2"):
        from_directory(root, channels=2)
    with pytest.raises(ValueError, match="image_size=\\(0, 5\\)"):
        from_directory(root, image_size=(0, 5))
    with pytest.raises(ValueError, match="labels='folders'"):
        from_directory(root, labels="folders")
