"""Bad-input and fault matrix, serving (issue 30): what the exported signatures
accept (JPEG, PNG, GIF, BMP and WebP in any channel layout, grey and colour
uint8 batches, for grey and colour models), what they refuse and how (an empty
batch, undecodable images named by index, images over ``max_pixels`` refused
from their headers), strict-JSON metadata, damaged SavedModels named by path,
and ``export --overwrite`` leaving a servable version whatever fails.

Two tiny exports (8x8 grey and colour, ``Flatten -> Dense(4)``, so every pixel
and channel counts) are built once for the module.
"""
import contextlib
import filecmp
import io
import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_contrastive import cli, export
from keras_contrastive.export import (
    DEFAULT_MAX_PIXELS, check_export_path, export_encoder, load_encoder, read_metadata)

SIZE = 8
CAP = 1000  # max_pixels of the module's exports
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
PICTURE = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
METRICS = {"nan": float("nan"), "inf": float("inf"), "minus_inf": float("-inf"),
           "np_nan": np.float32("nan"), "list": [1.0, float("nan")], "fine": 0.5}


def _encoder(channels, seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((SIZE, SIZE, channels)), keras.layers.Flatten(),
                             keras.layers.Dense(4)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{channels: (encoder, version_dir, signatures)} for a grey and a colour export."""
    base = tmp_path_factory.mktemp("exports")
    result = {}
    for channels in (1, 3):
        encoder = _encoder(channels, seed=channels)
        version_dir = export_encoder(encoder, base / f"c{channels}", max_pixels=CAP,
                                     metadata={"metrics": METRICS})
        result[channels] = (encoder, version_dir, tf.saved_model.load(version_dir).signatures)
    return result


def _encode(mode, fmt, options, array=PICTURE):
    source = Image.fromarray(array[..., :3]).convert(mode) if mode not in ("RGBA",) else \
        Image.fromarray(array)
    if mode == "LA":
        source = Image.fromarray(np.stack([array[..., 0], array[..., 3]], -1), "LA")
    data = io.BytesIO()
    source.save(data, format=fmt, **options)
    return data.getvalue()


def _as_channels(pixels, channels):
    """Float pixels [H, W, c] in [0, 1] as the model's channels (the documented rule:
    the grey of colour is its luma rounded to a grey level, as the loaders of
    training read it)."""
    if pixels.shape[-1] >= 3:
        colour = pixels[..., :3]
        grey = np.round(np.sum(colour * 255 * LUMA, -1, keepdims=True)) / 255
    else:
        grey = pixels[..., :1]
        colour = np.repeat(grey, 3, -1)
    return grey if channels == 1 else colour


def _reference(data, lossless):
    """The picture's pixels, decoded by Pillow (lossless formats: an independent
    decoder) or by TensorFlow (lossy ones: decoders may round differently)."""
    if not lossless:
        return tf.io.decode_image(data, channels=0, expand_animations=False).numpy()
    image = Image.open(io.BytesIO(data))
    if image.mode in ("P", "PA"):
        image = image.convert("RGB")
    pixels = np.asarray(image)
    return pixels[..., None] if pixels.ndim == 2 else pixels


FORMATS = {  # name: (Pillow format, options, lossless, modes)
    "PNG": ("PNG", {}, True, ("L", "LA", "RGB", "RGBA")),
    "JPEG": ("JPEG", {"quality": 95}, False, ("L", "RGB")),
    "GIF": ("GIF", {}, True, ("L", "RGB")),
    "BMP": ("BMP", {}, True, ("L", "RGB", "RGBA")),
    "WebP lossless": ("WEBP", {"lossless": True}, True, ("L", "LA", "RGB", "RGBA")),
    "WebP lossy": ("WEBP", {"quality": 90}, False, ("L", "LA", "RGB", "RGBA")),
}
BYTES_ROWS = [(name, mode, channels) for name, (_, _, _, modes) in FORMATS.items()
              for mode in modes for channels in (1, 3)]


@pytest.mark.parametrize("name,mode,channels", BYTES_ROWS)
def test_serve_bytes_takes_every_format_and_layout_for_both_channel_counts(
        exported, name, mode, channels):
    fmt, options, lossless, _ = FORMATS[name]
    data = _encode(mode, fmt, options)
    encoder, _, signatures = exported[channels]
    pixels = _as_channels(_reference(data, lossless).astype("float32") / 255.0, channels)
    served = signatures["serve_bytes"](image_bytes=tf.constant([data, data]))["embedding"]
    np.testing.assert_allclose(served, np.repeat(encoder(pixels[None]), 2, 0), atol=1e-5)


UINT8_ROWS = [(given, channels) for given in (1, 2, 3, 4) for channels in (1, 3)]


@pytest.mark.parametrize("given,channels", UINT8_ROWS)
def test_serve_uint8_converts_grey_colour_and_alpha_in_the_graph(exported, given, channels):
    encoder, _, signatures = exported[channels]
    batch = PICTURE[None, :, :, :given]
    expected = encoder(_as_channels(batch[0].astype("float32") / 255.0, channels)[None])
    served = signatures["serve_uint8"](images=tf.constant(batch))["embedding"]
    np.testing.assert_allclose(served, expected, atol=1e-5)


# -- refused inputs: the error says which image and why ------------------------------

PNG = _encode("L", "PNG", {})
JPEG = _encode("RGB", "JPEG", {"quality": 90})
BAD_BATCHES = {  # a batch for the grey model, and the fragment its error must hold
    "empty batch": ([], "the batch `image_bytes` is empty"),
    "not an image": ([b"not an image at all"], "could not be decoded"),
    "empty string at 1": ([PNG, b"", PNG], "image_bytes` could not be decoded"),
    "truncated PNG at 1": ([PNG, PNG[: len(PNG) // 2]], "] [1]"),
    "truncated JPEG at 0": ([JPEG[: len(JPEG) // 3], PNG], "] [0]"),
    "PNG magic then junk at 2": ([PNG, PNG, PNG[:8] + b"\x00" * 40], "] [2]"),
    "GIF header only at 0": ([b"GIF89a" + b"\x08\x00\x08\x00", PNG], "] [0]"),
    "PDF at 1": ([PNG, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"], "] [1]"),
    "two bad at 0 and 2": ([b"junk", PNG, b"junk"], "] [0 2]"),
    "too large at 1": ([PNG, _encode("L", "PNG", {}, np.zeros((40, 40, 4), np.uint8)), PNG],
                       "more than max_pixels=1000 pixels (height x width in their headers); "
                       "shrink them before sending:] [1]"),
}


@pytest.mark.parametrize("row", sorted(BAD_BATCHES))
def test_a_bad_serve_bytes_batch_fails_naming_the_image(exported, row):
    batch, message = BAD_BATCHES[row]
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        exported[1][2]["serve_bytes"](image_bytes=tf.constant(batch, tf.string))
    assert message in error.value.message, error.value.message


def test_a_bad_image_for_the_colour_model_is_named_too(exported):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"could not be decoded.*\] \[1\]"):
        exported[3][2]["serve_bytes"](image_bytes=tf.constant([JPEG, b"junk"]))


def test_an_empty_uint8_batch_is_refused(exported):
    with pytest.raises(tf.errors.InvalidArgumentError, match="the batch `images` is empty"):
        exported[3][2]["serve_uint8"](images=tf.zeros((0, 5, 5, 3), tf.uint8))


def test_an_empty_float_batch_gives_no_embeddings(exported):
    """``serving_default`` takes the model's own input: zero images, zero rows."""
    out = exported[1][2]["serving_default"](images=tf.zeros((0, SIZE, SIZE, 1)))["embedding"]
    assert tuple(out.shape) == (0, 4)


# -- the pixel cap, read from each format's header before decoding --------------------

HEADER_ROWS = {  # a 37 x 53 picture (height x width) in each format the header reader knows
    "PNG": ("RGB", "PNG", {}), "JPEG": ("RGB", "JPEG", {}), "GIF": ("RGB", "GIF", {}),
    "BMP": ("RGB", "BMP", {}), "BMP top-down": None,
    "WebP lossy (VP8)": ("RGB", "WEBP", {"quality": 80}),
    "WebP lossless (VP8L)": ("RGB", "WEBP", {"lossless": True}),
    "WebP with alpha (VP8X)": ("RGBA", "WEBP", {"quality": 80}),
}
WIDE = np.random.default_rng(1).integers(0, 256, (37, 53, 4), dtype=np.uint8)


def _header_row(name):
    if name == "BMP top-down":  # a negative height in the header
        data = bytearray(_encode("RGB", "BMP", {}, WIDE))
        data[22:26] = (-37).to_bytes(4, "little", signed=True)
        return bytes(data)
    mode, fmt, options = HEADER_ROWS[name]
    return _encode(mode, fmt, options, WIDE)


@pytest.mark.parametrize("name", sorted(HEADER_ROWS))
def test_the_header_gives_the_size_without_decoding(name):
    assert export._header_size(tf.constant(_header_row(name))).numpy().tolist() == [37, 53]


@pytest.mark.parametrize("name", sorted(set(HEADER_ROWS) - {"BMP top-down"}))
def test_an_image_over_max_pixels_is_refused_in_every_format(exported, name):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_pixels=1000.*\] \[0\]"):
        exported[3][2]["serve_bytes"](image_bytes=tf.constant([_header_row(name)]))


@pytest.mark.parametrize("height,width,accepted", [(25, 40, True), (7, 143, False)])
def test_the_cap_is_inclusive(exported, height, width, accepted):
    data = _encode("L", "PNG", {}, np.zeros((height, width, 4), np.uint8))
    call = lambda: exported[1][2]["serve_bytes"](image_bytes=tf.constant([data]))  # noqa: E731
    if accepted:
        assert call()["embedding"].shape == (1, 4)
    else:
        with pytest.raises(tf.errors.InvalidArgumentError, match="max_pixels=1000"):
            call()


def test_a_20000_square_png_header_is_refused_before_decoding(exported):
    """A PNG whose header announces 20000 x 20000 (what a 388 KB file can hold) is
    refused from the header: decoding it would fail on the body, with another message."""
    data = bytearray(PNG)
    data[16:24] = (20000).to_bytes(4, "big") * 2
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than max_pixels=1000"):
        exported[1][2]["serve_bytes"](image_bytes=tf.constant([bytes(data)]))


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "1e6"])
def test_a_bad_max_pixels_is_refused_naming_it(bad, tmp_path):
    with pytest.raises(ValueError, match="`max_pixels` must be a positive integer"):
        export_encoder(_encoder(1, 0), tmp_path, max_pixels=bad)
    assert not os.listdir(tmp_path)


# -- metadata.json: strict JSON -----------------------------------------------------


def _refuse(constant):
    raise ValueError(f"not strict JSON: {constant}")


@pytest.mark.parametrize("key", sorted(METRICS))
def test_metadata_is_strict_json_with_null_for_non_finite_numbers(exported, key):
    with open(os.path.join(exported[1][1], "metadata.json")) as f:
        metadata = json.loads(f.read(), parse_constant=_refuse)
    expected = {"nan": None, "inf": None, "minus_inf": None, "np_nan": None,
                "list": [1.0, None], "fine": 0.5}[key]
    assert metadata["metrics"][key] == expected
    assert metadata["max_pixels"] == CAP


# -- damaged SavedModels: the error names the path --------------------------------------


def _damage(version_dir, tmp_path, how):
    copy = tmp_path / "damaged" / "1"
    shutil.copytree(version_dir, copy)
    variables = copy / "variables"
    if how == "saved_model.pb truncated":
        data = (copy / "saved_model.pb").read_bytes()
        (copy / "saved_model.pb").write_bytes(data[: len(data) // 2])
    elif how == "saved_model.pb garbage":
        (copy / "saved_model.pb").write_bytes(b"\xff" * 100)
    elif how == "saved_model.pb empty":
        (copy / "saved_model.pb").write_bytes(b"")
    elif how == "variables data truncated":
        (data_file,) = variables.glob("variables.data-*")
        data_file.write_bytes(data_file.read_bytes()[:10])
    elif how == "variables index missing":
        (variables / "variables.index").unlink()
    return copy


DAMAGE_ROWS = {
    "saved_model.pb truncated": "saved_model.pb is damaged",
    "saved_model.pb garbage": "saved_model.pb is damaged",
    "saved_model.pb empty": "has no 'serving_default' signature",
    "variables data truncated": "is damaged",
    "variables index missing": "is damaged",
}


@pytest.mark.parametrize("how", sorted(DAMAGE_ROWS))
def test_loading_a_damaged_savedmodel_names_its_path(exported, tmp_path, how):
    copy = _damage(exported[1][1], tmp_path, how)
    with pytest.raises(ValueError, match=DAMAGE_ROWS[how]) as error:
        load_encoder(tmp_path / "damaged")
    assert str(copy) in str(error.value)


def test_a_damaged_metadata_file_names_its_path(exported, tmp_path):
    copy = tmp_path / "m" / "1"
    shutil.copytree(exported[1][1], copy)
    (copy / "metadata.json").write_text('{"method": ')
    with pytest.raises(ValueError, match=f"{copy / 'metadata.json'} is damaged: not JSON"):
        read_metadata(tmp_path / "m")


def test_the_cli_evaluate_of_a_damaged_export_exits_2_naming_it(exported, tmp_path):
    copy = _damage(exported[1][1], tmp_path, "saved_model.pb truncated")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.run(["evaluate", str(tmp_path / "damaged"), "--train-subset", "10"])
    assert code == 2 and f"{copy / 'saved_model.pb'} is damaged" in err.getvalue()


# -- export --overwrite: a servable version at every moment ---------------------------


@pytest.fixture
def served_v1(exported, tmp_path):
    """``tmp_path/base/1``: a copy of the grey export (the old version)."""
    shutil.copytree(exported[1][1], tmp_path / "base" / "1")
    return tmp_path / "base"


def _same_files(left, right):
    compare = filecmp.dircmp(left, right)
    return not (compare.left_only or compare.right_only or compare.diff_files) and all(
        _same_files(os.path.join(left, d), os.path.join(right, d)) for d in compare.common_dirs)


class Killed(Exception):
    """Stands for the process dying at this point."""


def test_a_failure_after_the_new_version_is_written_keeps_the_old_one(
        exported, served_v1, monkeypatch):
    archive_class = type(keras.export.ExportArchive())  # the backend's subclass
    written = archive_class.write_out

    def write_then_fail(self, filepath, **kwargs):
        written(self, filepath, **kwargs)
        assert os.path.isfile(os.path.join(filepath, "saved_model.pb"))  # written
        raise Killed

    monkeypatch.setattr(archive_class, "write_out", write_then_fail)
    with pytest.raises(Killed):
        export_encoder(_encoder(1, 7), served_v1, overwrite=True)
    assert sorted(os.listdir(served_v1)) == ["1"]  # no temporary folder left
    assert _same_files(exported[1][1], served_v1 / "1")
    old = exported[1][0]
    np.testing.assert_allclose(load_encoder(served_v1)(PICTURE[None, ..., :1] / 255.0),
                               old(PICTURE[None, ..., :1] / 255.0), atol=1e-5)


def test_a_failure_writing_the_metadata_keeps_the_old_one(exported, served_v1, monkeypatch):
    def fail(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(export.json, "dump", fail)
    with pytest.raises(Killed):
        export_encoder(_encoder(1, 7), served_v1, overwrite=True)
    assert sorted(os.listdir(served_v1)) == ["1"]
    assert _same_files(exported[1][1], served_v1 / "1")


@pytest.mark.parametrize("exchange", [True, False], ids=["atomic exchange", "two renames"])
def test_overwrite_replaces_the_version_and_leaves_nothing_behind(
        exported, served_v1, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(export, "_exchange", lambda first, second: False)
    new = _encoder(1, 7)
    export_encoder(new, served_v1, overwrite=True)
    assert sorted(os.listdir(served_v1)) == ["1"]
    assert read_metadata(served_v1)["max_pixels"] == DEFAULT_MAX_PIXELS  # the default, recorded
    served = tf.saved_model.load(str(served_v1 / "1")).signatures["serving_default"]
    x = PICTURE[None, ..., :1].astype("float32") / 255.0
    np.testing.assert_allclose(served(images=x)["embedding"], new(x), atol=1e-5)


def test_a_failure_between_the_two_renames_puts_the_old_version_back(
        exported, served_v1, monkeypatch):
    monkeypatch.setattr(export, "_exchange", lambda first, second: False)
    renames = []

    def rename(source, target):
        renames.append(target)
        if len(renames) == 2:  # the new version into place
            raise Killed
        os.replace(source, target)

    monkeypatch.setattr(export.os, "rename", rename)
    with pytest.raises(Killed):
        export_encoder(_encoder(1, 7), served_v1, overwrite=True)
    monkeypatch.undo()
    assert sorted(os.listdir(served_v1)) == ["1"]
    assert _same_files(exported[1][1], served_v1 / "1")


KILL_LAYOUTS = {  # what a kill at each moment leaves, and what the next export finds
    "while writing": ({"1": "old", ".tmp-1-a": "partial"}, "old"),
    "between the two renames": ({".old-1-a": "old", ".tmp-1-b": "new"}, "old"),
    "after the exchange": ({"1": "new", ".tmp-1-a": "old"}, "new"),
    "after the second rename": ({"1": "new", ".old-1-a": "old"}, "new"),
}


@pytest.mark.parametrize("moment", sorted(KILL_LAYOUTS))
def test_after_a_kill_the_next_export_finds_a_servable_version_and_no_leftovers(
        exported, tmp_path, moment):
    layout, kept = KILL_LAYOUTS[moment]
    base = tmp_path / "base"
    sources = {"old": exported[1][1], "new": exported[3][1]}
    for name, what in layout.items():
        if what == "partial":
            (base / name / "variables").mkdir(parents=True)
        else:
            shutil.copytree(sources[what], base / name)
    (base / ".tmp-2-other").mkdir()  # another version's export: not ours to delete
    with pytest.raises(FileExistsError):  # the servable version is back in place
        check_export_path(base, 1)
    assert sorted(os.listdir(base)) == [".tmp-2-other", "1"]
    assert _same_files(sources[kept], base / "1")
