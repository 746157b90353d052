"""The data part of the bad-input and fault matrix (issue 30, "Data: nothing silent").

Five tables, one row per case: the input, and the outcome asserted: a
``ValueError`` (or the error named) whose message names the problem, a
counted skip (with its warning), or the correct result.

* FOLDER_CASES: class folders, splits, junk, empty folders, links
  (``data.directory``, ``pretraining.sources``).  Each image is a flat
  4x4 PNG whose pixel value identifies it, so a row states exactly which
  image gets which label.
* EXIF_BYTES_CASES / ORIENTATION_CASES: the EXIF orientation tag read from
  JPEG bytes (by the Python reader of the folder loader and the graph reader
  of the exported ``serve_bytes``, which must agree, fuzzed too), and images
  loaded, and served, turned as a viewer shows them.
* VIEWS_CASES: float images outside [0, 1] and datasets too small for a
  batch given to ``views.make_views``.
* LOST_FILE_CASES: files deleted or changed between the scan and the
  reading.
"""
import os
import shutil
import struct
import warnings

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.data import (
    apply_orientation, exif_orientation, exif_orientation_tf, from_directory,
    scan_image_directory)
from keras_contrastive.data.orientation import MAX_MARKER_STEPS
from keras_contrastive.pretraining.sources import label_names, open_split
from keras_contrastive.views import make_views

# ----------------------------------------------------------------------------- helpers


def _png(value, size=(4, 4)):
    return tf.io.encode_png(np.full((*size, 3), value, np.uint8)).numpy()


GARBAGE = b"\x89PNG not really"


def _build(root, layout):
    """Writes ``layout``: relative path -> pixel value (a PNG), bytes (a raw
    file), ``"dir"`` (an empty folder) or ``("link", target)``."""
    for rel, item in layout.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if item == "dir":
            os.makedirs(path, exist_ok=True)
        elif isinstance(item, tuple):
            os.symlink(item[1], path)
        else:
            with open(path, "wb") as stream:
                stream.write(item if isinstance(item, bytes) else _png(item))
    return str(root)


def _pairs(dataset):
    """Sorted ``(pixel value, label)`` pairs (or pixel values) of a dataset."""
    out = []
    for element in dataset.as_numpy_iterator():
        if isinstance(element, tuple):
            out.append((int(element[0][0, 0, 0]), int(element[1])))
        else:
            out.append(int(element[0, 0, 0]))
    return sorted(out)


def _recorded(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    return result, " | ".join(str(w.message) for w in caught)


# ----------------------------------------------------------------------------- folders

OUTSIDE = {"../outside/7.png": 7}  # a folder beside the root, holding an image
SPLITS = {"train/a/1.png": 1, "train/b/2.png": 2, "train/c/3.png": 3}

# id, layout (under tmp/root), how it is opened, expected outcome:
#   {"pairs": sorted (value, label), "classes": label map, "warns": [...], "quiet": [...]}
#   or ("error", fragment of the message)
FOLDER_CASES = [
    ("test_split_lacking_a_class_keeps_the_training_labels",
     {**SPLITS, "test/a/11.png": 11, "test/c/13.png": 13}, "test",
     {"pairs": [(11, 0), (13, 2)], "classes": ["a", "b", "c"]}),
    ("training_split_labels_from_its_sorted_class_folders",
     {**SPLITS, "test/a/11.png": 11}, "train",
     {"pairs": [(1, 0), (2, 1), (3, 2)], "classes": ["a", "b", "c"]}),
    ("test_class_the_training_split_lacks_is_refused",
     {**SPLITS, "test/a/11.png": 11, "test/z/19.png": 19}, "test",
     ("error", r"class folder\(s\) \['z'\] that the training split lacks")),
    ("macosx_folder_at_the_root_is_ignored_and_named",
     {"a/1.png": 1, "b/2.png": 2, "__MACOSX/a/._1.png": GARBAGE, "__MACOSX/a/9.png": 9},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["__MACOSX"]}),
    ("synology_eadir_thumbnails_in_a_class_are_not_images_of_it",
     {"a/1.png": 1, "a/@eaDir/1.png/THUMB.png": 9, "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["@eaDir"]}),
    ("pycache_folder_is_no_class",
     {"a/1.png": 1, "__pycache__/9.png": 9, "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["__pycache__"]}),
    ("hidden_folder_is_no_class",
     {"a/1.png": 1, ".cache/9.png": 9, "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": [".cache"]}),
    ("empty_class_folder_is_ignored_with_a_warning",
     {"a/1.png": 1, "b": "dir", "c/3.png": 3},
     "dir", {"pairs": [(1, 0), (3, 1)], "classes": ["a", "c"], "warns": ["empty"]}),
    ("empty_class_folder_in_train_maps_test_consistently",
     {"train/a/1.png": 1, "train/b": "dir", "train/c/3.png": 3, "test/a/11.png": 11,
      "test/c/13.png": 13}, "test",
     {"pairs": [(11, 0), (13, 1)], "classes": ["a", "c"]}),
    ("link_to_the_parent_is_not_followed",
     {**OUTSIDE, "a/1.png": 1, "b/2.png": 2, "up": ("link", "..")},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["outside"]}),
    ("link_to_the_root_itself_is_a_loop_not_a_class",
     {"a/1.png": 1, "b/2.png": 2, "again": ("link", ".")},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["loop"]}),
    ("link_inside_a_class_back_to_it_is_a_loop",
     {"a/1.png": 1, "a/deeper": ("link", "."), "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["loop"]}),
    ("link_in_a_class_to_a_folder_outside_the_root_is_not_followed",
     {**OUTSIDE, "a/1.png": 1, "a/more": ("link", "../../outside"), "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["outside"]}),
    ("class_folder_linking_outside_the_root_is_no_class",
     {**OUTSIDE, "a/1.png": 1, "z": ("link", "../outside")},
     "dir", {"pairs": [(1, 0)], "classes": ["a"], "warns": ["outside"]}),
    ("file_link_outside_the_root_is_skipped_and_counted",
     {**OUTSIDE, "a/1.png": 1, "a/x.png": ("link", "../../outside/7.png"), "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"],
             "warns": ["skipped 1 of 3", "outside"]}),
    ("class_folder_linking_into_another_class_is_no_class",
     {"a/1.png": 1, "b": ("link", "a"), "c/3.png": 3},
     "dir", {"pairs": [(1, 0), (3, 1)], "classes": ["a", "c"],
             "warns": ["a link into the class folder 'a'"]}),
    ("folder_link_inside_a_class_to_another_class_is_read_once",
     {"a/1.png": 1, "b/2.png": 2, "b/more": ("link", "../a")},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["read already"]}),
    ("folder_link_inside_the_root_is_followed",
     {"a/1.png": 1, ".pool/5.png": 5, "b/more": ("link", "../.pool")},
     "dir", {"pairs": [(1, 0), (5, 1)], "classes": ["a", "b"]}),
    ("file_link_inside_the_root_is_followed",
     {"a/1.png": 1, "b/2.png": 2, "b/copy.png": ("link", "../a/1.png")},
     "dir", {"pairs": [(1, 0), (1, 1), (2, 1)], "classes": ["a", "b"]}),
    ("broken_file_link_is_skipped_and_counted",
     {"a/1.png": 1, "a/gone.png": ("link", "nowhere.png"), "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"],
             "warns": ["skipped 1 of 3", "broken link"]}),
    ("desktop_junk_files_are_ignored_quietly",
     {"a/1.png": 1, "a/.DS_Store": GARBAGE, "a/Thumbs.db": GARBAGE, "b/desktop.ini": b"[x]",
      "b/2.png": 2}, "dir",
     {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "quiet": ["skipped", "ignored"]}),
    ("stray_file_beside_the_class_folders_is_skipped_and_counted",
     {"a/1.png": 1, "b/2.png": 2, "stray.png": 5},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"],
             "warns": ["not inside a class sub-folder"]}),
    ("corrupt_file_in_a_class_is_skipped_and_counted",
     {"a/1.png": 1, "a/bad.png": GARBAGE, "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"], "warns": ["skipped 1 of 3"]}),
    ("class_of_only_corrupt_files_keeps_its_label_for_test",
     {"train/a/bad.png": GARBAGE, "train/b/2.png": 2, "test/a/11.png": 11,
      "test/b/12.png": 12}, "test",
     {"pairs": [(11, 0), (12, 1)], "classes": ["a", "b"]}),
    ("images_nested_deeper_belong_to_their_top_class_folder",
     {"a/x/y/1.png": 1, "b/2.png": 2},
     "dir", {"pairs": [(1, 0), (2, 1)], "classes": ["a", "b"]}),
    ("train_folder_without_test_folder_is_refused",
     {"train/a/1.png": 1}, "test", ("error", r"has a train/ folder but no test/ folder")),
    ("test_folder_without_train_folder_is_refused",
     {"test/a/1.png": 1}, "train", ("error", r"has a test/ folder but no train/ folder")),
    ("flat_test_split_under_a_labelled_train_split_is_refused",
     {"train/a/1.png": 1, "test/5.png": 5}, "test", ("error", r"has no class folders")),
    ("only_junk_holds_no_image",
     {"__MACOSX/9.png": 9, ".hidden/8.png": 8}, "dir", ("error", r"No readable image files")),
    ("given_label_map_keeps_a_missing_class_index",
     {"a/1.png": 1, "c/3.png": 3}, {"class_names": ["a", "b", "c"]},
     {"pairs": [(1, 0), (3, 2)], "classes": ["a", "b", "c"]}),
    ("given_label_map_refuses_an_unknown_class",
     {"a/1.png": 1, "d/4.png": 4}, {"class_names": ["a", "b"]},
     ("error", r"\['d'\] that the training split lacks")),
    ("given_label_map_with_duplicates_is_refused",
     {"a/1.png": 1}, {"class_names": ["a", "a"]}, ("error", r"class_names=\['a', 'a'\]")),
    ("given_label_map_of_non_strings_is_refused",
     {"a/1.png": 1}, {"class_names": [0, 1]}, ("error", r"distinct folder names")),
    ("label_map_without_labels_is_refused",
     {"a/1.png": 1}, {"class_names": ["a"], "labels": None},
     ("error", r"`class_names` is a label map; it needs labels='inferred'")),
    ("unlabelled_reading_skips_junk_too",
     {"a/1.png": 1, "__MACOSX/9.png": 9, "a/@eaDir/8.png": 8}, {"labels": None},
     {"values": [1]}),
]


@pytest.mark.parametrize("layout, opened, expected", [c[1:] for c in FOLDER_CASES],
                         ids=[c[0] for c in FOLDER_CASES])
def test_folder_case(tmp_path, layout, opened, expected):
    root = _build(tmp_path / "root", layout)
    if opened in ("train", "test"):
        def run():
            split = open_split(root, opened)
            images, labels = split.arrays()
            pairs = sorted(zip(images[:, 0, 0, 0].tolist(), labels.tolist()))
            return pairs, split.class_names
    else:
        kwargs = opened if isinstance(opened, dict) else {}

        def run():
            return _pairs(from_directory(root, **kwargs)), (
                scan_image_directory(root, **kwargs).class_names)
    if isinstance(expected, tuple):
        with pytest.raises(ValueError, match=expected[1]):
            run()
        return
    (pairs, classes), said = _recorded(run)
    if "values" in expected:
        assert pairs == expected["values"]
        return
    assert pairs == expected["pairs"] and classes == expected["classes"]
    for fragment in expected.get("warns", []):
        assert fragment in said, said
    for fragment in expected.get("quiet", []):
        assert fragment not in said, said


def test_export_metadata_records_the_training_label_map(tmp_path, monkeypatch):
    from keras_contrastive import export
    from keras_contrastive.pretraining import PRESETS, PretrainResult, export_pretrained

    root = _build(tmp_path / "root", {"train/b/2.png": 2, "train/a/1.png": 1,
                                      "test/a/11.png": 11})
    written = {}
    monkeypatch.setattr(export, "export_encoder",
                        lambda model, path, metadata=None, **kw: written.update(metadata))
    export_pretrained(PRESETS["quality"].replace(dataset=root), PretrainResult(
        None, {}, 1.0, 1.0, {}), str(tmp_path / "out"))
    assert written["class_names"] == ["a", "b"] == label_names(root)
    assert label_names("fashion_mnist") is None


# ----------------------------------------------------------------------------- EXIF


def _tiff(value, order=">", kind=3, before=0, offset=8, magic=None):
    """A TIFF block whose IFD0 holds ``before`` other tags, then the orientation."""
    entries = [struct.pack(order + "HHI4s", 0x010F + i, 2, 4, b"abc\x00") for i in range(before)]
    entries.append(struct.pack(order + "HHIHH", 0x0112, kind, 1, value, 0) if kind == 3
                   else struct.pack(order + "HHII", 0x0112, kind, 1, value))
    header = (magic or (b"MM" if order == ">" else b"II")) + struct.pack(order + "HI", 42, offset)
    next_ifd = b"\x00" * 4  # none
    return header + struct.pack(order + "H", len(entries)) + b"".join(entries) + next_ifd


def _segment(marker, payload):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def _exif_app1(tiff):
    return _segment(0xE1, b"Exif\x00\x00" + tiff)


JFIF = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
SOI, EOI = b"\xff\xd8", b"\xff\xd9"

EXIF_BYTES_CASES = [
    ("big_endian_tag", SOI + _exif_app1(_tiff(6)) + EOI, 6),
    ("little_endian_tag", SOI + _exif_app1(_tiff(8, order="<")) + EOI, 8),
    ("exif_after_a_jfif_segment", SOI + JFIF + _exif_app1(_tiff(3)) + EOI, 3),
    ("tag_after_other_tags", SOI + _exif_app1(_tiff(5, before=4)) + EOI, 5),
    ("xmp_app1_before_the_exif_app1",
     SOI + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x/>") + _exif_app1(_tiff(7)) + EOI,
     7),
    ("fill_bytes_before_a_marker", SOI + b"\xff\xff" + _exif_app1(_tiff(2)) + EOI, 2),
    ("no_exif_segment", SOI + JFIF + EOI, 1),
    ("exif_after_the_image_data_is_not_read",
     SOI + _segment(0xDA, b"\x00") + _exif_app1(_tiff(6)) + EOI, 1),
    ("png_bytes", _png(0), 1),
    ("empty_bytes", b"", 1),
    ("truncated_app1", SOI + _exif_app1(_tiff(6))[:12], 1),
    ("value_out_of_range_9", SOI + _exif_app1(_tiff(9)) + EOI, 1),
    ("value_zero", SOI + _exif_app1(_tiff(0)) + EOI, 1),
    ("tag_of_the_wrong_type", SOI + _exif_app1(_tiff(6, kind=4)) + EOI, 1),
    ("ifd_offset_past_the_end", SOI + _exif_app1(_tiff(6, offset=4000)) + EOI, 1),
    ("bad_byte_order_mark", SOI + _exif_app1(_tiff(6, magic=b"XX")) + EOI, 1),
    ("garbage_after_soi", SOI + b"\x00\x01\x02\x03\x04\x05", 1),
    ("segment_length_past_the_end_reads_what_is_there",
     SOI + b"\xff\xe1\xff\xf0Exif\x00\x00" + _tiff(6), 6),
    ("zero_segment_length", SOI + b"\xff\xe0\x00\x00" + _exif_app1(_tiff(6)) + EOI, 1),
    ("segment_length_one", SOI + b"\xff\xe0\x00\x01" + _exif_app1(_tiff(6)) + EOI, 1),
    ("huge_entry_count_reads_the_entries_there",
     SOI + _exif_app1(_tiff(6)[:8] + b"\xff\xff" + _tiff(6)[10:]) + EOI, 6),
    ("huge_entry_count_no_tag",
     SOI + _exif_app1(_tiff(6)[:8] + b"\xff\xff" + b"\x00" * 40) + EOI, 1),
    ("ifd_entry_cut_short", SOI + _segment(0xE1, b"Exif\x00\x00" + _tiff(6)[:19]) + EOI, 1),
    ("wrong_type_then_the_right_one",
     SOI + _exif_app1(_tiff(6, kind=4)[:10].replace(b"\x00\x01", b"\x00\x02", 1)
                      + _tiff(6, kind=4)[10:22] + _tiff(3)[10:22] + b"\x00" * 4) + EOI, 3),
    ("standalone_markers_before_the_exif",
     SOI + b"\xff\x01\xff\xd0" + _exif_app1(_tiff(4)) + EOI, 4),
    ("fill_bytes_up_to_the_step_limit",
     SOI + b"\xff" * (MAX_MARKER_STEPS - 1) + _exif_app1(_tiff(6)) + EOI, 6),
    ("fill_bytes_past_the_step_limit",
     SOI + b"\xff" * MAX_MARKER_STEPS + _exif_app1(_tiff(6)) + EOI, 1),
]

# the serving graph's reader, traced once
_exif_orientation_graph = tf.function(exif_orientation_tf,
                                      input_signature=[tf.TensorSpec([], tf.string)])


def _both_readers(data):
    """(Python reader, graph reader) of ``data``."""
    return exif_orientation(data), int(_exif_orientation_graph(tf.constant(data)))


@pytest.mark.parametrize("data, expected", [c[1:] for c in EXIF_BYTES_CASES],
                         ids=[c[0] for c in EXIF_BYTES_CASES])
def test_exif_bytes_case(data, expected):
    assert _both_readers(data) == (expected, expected)


def test_both_exif_readers_read_every_orientation_in_both_byte_orders():
    for order in "<>":
        for orientation in range(1, 9):
            data = SOI + JFIF + _exif_app1(_tiff(orientation, order=order, before=2)) + EOI
            assert _both_readers(data) == (orientation, orientation), (order, orientation)


def test_exif_readers_agree_on_fuzzed_bytes():
    """Seeded random byte strings, and real JPEGs with EXIF with a few header
    bytes changed and some cut short: the graph reader never raises and reads
    what the Python reader reads (the mutations keep many tags readable)."""
    rng = np.random.default_rng(0)
    jpegs = [_jpeg_with_orientation(STORED[:4, :6], o) for o in range(1, 9)]
    cases = [rng.integers(0, 256, rng.integers(0, 80)).astype(np.uint8).tobytes()
             for _ in range(200)]
    cases += [SOI + rng.integers(0, 256, rng.integers(0, 80)).astype(np.uint8).tobytes()
              for _ in range(100)]
    for i in range(300):
        data = bytearray(jpegs[i % 8])
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(0, 64)] = rng.integers(0, 256)
        cases.append(bytes(data[:rng.integers(2, len(data))] if i % 3 == 0 else data))
    read = [_both_readers(data) for data in cases]
    disagreements = [(data[:48], pair) for data, pair in zip(cases, read) if pair[0] != pair[1]]
    assert not disagreements, disagreements[:3]
    assert len({python for python, _ in read}) == 8  # every orientation among the cases


# What each orientation shows, from the stored pixels (independent of the library).
SHOWN = {
    1: lambda x: x, 2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
    5: lambda x: x.transpose(1, 0, 2), 6: lambda x: np.rot90(x, -1),
    7: lambda x: np.rot90(x.transpose(1, 0, 2), 2), 8: lambda x: np.rot90(x, 1),
}
STORED = np.zeros((6, 10, 3), np.uint8)
STORED[:2, :3] = 255  # a bright corner: every orientation moves it somewhere else
STORED[4:, 7:, 0] = 160
ORIENTATION_CASES = [(f"orientation_{o}", o) for o in range(1, 9)]


def _jpeg_with_orientation(image, orientation):
    jpeg = tf.io.encode_jpeg(image, quality=100, chroma_downsampling=False).numpy()
    return jpeg[:2] + _exif_app1(_tiff(orientation)) + jpeg[2:]


@pytest.mark.parametrize("orientation", [c[1] for c in ORIENTATION_CASES],
                         ids=[c[0] for c in ORIENTATION_CASES])
def test_jpeg_loads_as_a_viewer_shows_it(tmp_path, orientation):
    data = _jpeg_with_orientation(STORED, orientation)
    root = _build(tmp_path / "root", {"photo.jpg": data})
    expected = SHOWN[orientation](STORED)
    assert scan_image_directory(root).shapes == [expected.shape]
    loaded = next(iter(from_directory(root))).numpy()
    assert loaded.shape == expected.shape
    error = np.abs(loaded.astype(int) - expected).mean()
    assert error < 3, error  # JPEG rounding only
    wrong = [np.abs(loaded.astype(int) - other).mean() for o, shown in SHOWN.items()
             if o != orientation and (other := shown(STORED)).shape == expected.shape
             and not np.array_equal(other, expected)]
    assert min(wrong) > 10 * max(error, 1)
    try:  # the reference viewer, where installed
        from PIL import Image, ImageOps
    except ImportError:
        return
    import io
    pil = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert pil.shape == loaded.shape and np.abs(pil.astype(int) - loaded).mean() < 3


def test_each_epoch_takes_the_orientation_from_the_scan(tmp_path, monkeypatch):
    """Reading a file for training decodes it only: its EXIF orientation is the scan's
    (parsing it again fails here); a file replaced since the scan is checked again
    and read with its own orientation."""
    from keras_contrastive.data import directory

    root = _build(tmp_path / "root", {"photo.jpg": _jpeg_with_orientation(STORED, 6)})
    dataset = directory.from_scan(scan_image_directory(root))

    def parse_again(contents):
        raise AssertionError("the EXIF orientation was parsed again")

    with monkeypatch.context() as patch:
        patch.setattr(directory, "exif_orientation", parse_again)
        for _ in range(2):  # two epochs
            loaded = next(iter(dataset)).numpy().astype(int)
            assert np.abs(loaded - SHOWN[6](STORED)).mean() < 3
    jpeg = tf.io.encode_jpeg(STORED, quality=100, chroma_downsampling=False).numpy()
    with open(os.path.join(root, "photo.jpg"), "wb") as stream:  # another size: a new stat
        stream.write(jpeg[:2] + _exif_app1(_tiff(8, before=2)) + jpeg[2:])
    loaded = next(iter(dataset)).numpy().astype(int)
    assert np.abs(loaded - SHOWN[8](STORED)).mean() < 3


def test_served_jpegs_are_turned_as_the_folder_loader_turns_them(tmp_path):
    """Train/serve parity for rotated photos: each of the 8 orientations, sent as
    bytes to an exported encoder's ``serve_bytes``, gets the embedding of the
    same file read by the training folder loader, to 1e-5."""
    import keras

    from keras_contrastive.data.directory import from_scan
    from keras_contrastive.data.preprocess import resize_uint8
    from keras_contrastive.export import export_encoder, read_metadata

    files = {f"o{o}.jpg": _jpeg_with_orientation(STORED, o) for o in range(1, 9)}
    scan = scan_image_directory(_build(tmp_path / "photos", files))
    loaded = np.stack([x.numpy() for x in from_scan(scan, image_size=(8, 12))])
    encoder = keras.Sequential([  # position-sensitive: every turn moves its embedding
        keras.Input((8, 12, 3)), keras.layers.Flatten(),
        keras.layers.Dense(6, kernel_initializer=keras.initializers.RandomNormal(seed=0))])
    trained_on = encoder(loaded.astype("float32") / 255.0).numpy()
    export = export_encoder(encoder, tmp_path / "export")
    signatures = tf.saved_model.load(export).signatures
    contents = [open(file, "rb").read() for file in scan.files]
    served = signatures["serve_bytes"](image_bytes=tf.constant(contents))["embedding"].numpy()
    np.testing.assert_allclose(served, trained_on, atol=1e-5)
    assert "EXIF" in read_metadata(export)["preprocessing"]["exif_orientation"]
    # the check can fail: the stored pixels, not turned, embed elsewhere (orientations 2-8)
    stored = np.stack([tf.io.decode_jpeg(data).numpy() for data in contents])
    unturned = signatures["serve_uint8"](images=tf.constant(stored))["embedding"].numpy()
    assert np.abs(unturned[0] - trained_on[0]).max() < 1e-5
    assert np.abs(unturned[1:] - trained_on[1:]).max(axis=1).min() > 1e-2
    # resized, then turned (cheap): the shown picture resized, but for a level of rounding
    for index, orientation in enumerate(range(1, 9)):
        shown = resize_uint8(SHOWN[orientation](stored[index]), (8, 12)).numpy()
        assert np.abs(loaded[index].astype(int) - shown).max() <= 1, orientation


def test_apply_orientation_keeps_channels_and_dtype():
    image = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    for orientation in range(1, 9):
        turned = apply_orientation(image, orientation).numpy()
        np.testing.assert_array_equal(turned, SHOWN[orientation](image))


# ----------------------------------------------------------------------------- make_views


def _float_images(high, count=20, dtype=np.float32):
    """``count`` 4x4 images, each ranging over [0, high]."""
    image = np.linspace(0, high, 4 * 4).reshape(4, 4, 1)
    images = np.repeat(image[None], count, 0).astype(dtype)
    return tf.data.Dataset.from_tensor_slices(images)


def _unknown_size(count):
    images = np.full((count + 3, 4, 4, 1), 7, np.uint8)
    return tf.data.Dataset.from_tensor_slices(images).filter(
        lambda x: tf.reduce_max(x) < 100).take(count)  # take keeps it unknown


def _spoiled(value):
    images = np.full((20, 4, 4, 1), 0.5, np.float32)
    images[3, 1, 2, 0] = value
    return tf.data.Dataset.from_tensor_slices(images)


def _generator(count):
    return tf.data.Dataset.from_generator(
        lambda: (np.zeros((4, 4, 1), np.uint8) for _ in range(count)),
        output_signature=tf.TensorSpec([4, 4, 1], tf.uint8))


# id, dataset builder, make_views arguments (batch_size 16 unless given), expected:
#   ("error", fragment) or ("ok", the first view's value at [0, 0, 0, 0])
VIEWS_CASES = [
    ("float_0_255_is_refused", lambda: _float_images(255.0), {},
     ("error", r"range over \[0, 255\].*Divide images in \[0, 255\] by 255")),
    ("float_0_1_is_kept", lambda: _float_images(1.0), {}, ("ok", 0.0)),
    ("float_minus1_1_is_refused", lambda: _float_images(2.0).map(lambda x: x - 1.0), {},
     ("error", r"range over \[-1, 1\].*\(x \+ 1\) / 2 for images in \[-1, 1\]")),
    ("float_within_tolerance_is_kept", lambda: _float_images(1.0005), {}, ("ok", 0.0)),
    ("float_0_255_without_rescale_is_kept", lambda: _float_images(255.0).map(
        lambda x: x + 3.0), {"rescale": False}, ("ok", 3.0)),
    ("uint8_is_divided_by_255", lambda: tf.data.Dataset.from_tensor_slices(
        np.full((20, 4, 4, 1), 51, np.uint8)), {}, ("ok", 0.2)),
    ("float64_0_255_is_refused", lambda: _float_images(255.0, dtype=np.float64), {},
     ("error", r"would saturate to 1")),
    ("float16_0_255_is_refused", lambda: _float_images(255.0, dtype=np.float16), {},
     ("error", r"would saturate to 1")),
    ("labelled_float_0_255_is_refused", lambda: tf.data.Dataset.zip(
        _float_images(255.0), tf.data.Dataset.range(20)), {}, ("error", r"by 255")),
    ("dict_float_0_255_is_refused", lambda: _float_images(255.0).map(
        lambda x: {"image": x}), {}, ("error", r"by 255")),
    ("infinite_float_0_255_is_refused", lambda: _float_images(255.0).repeat(), {},
     ("error", r"by 255")),
    ("one_bright_pixel_in_the_first_batch_is_found", lambda: _spoiled(200.0), {},
     ("error", r"range over \[0.5, 200\]")),
    ("nan_pixel_is_refused", lambda: _spoiled(np.nan), {}, ("error", r"NaN or infinite")),
    ("inf_pixel_is_refused", lambda: _spoiled(np.inf), {}, ("error", r"NaN or infinite")),
    ("unknown_size_smaller_than_a_batch_is_refused", lambda: _unknown_size(5), {},
     ("error", r"holds 5 images \(counted: its cardinality is unknown\), fewer than "
               r"batch_size=16")),
    ("unknown_size_of_one_batch_is_kept", lambda: _unknown_size(16), {}, ("ok", 7 / 255)),
    ("unknown_size_small_without_drop_remainder_is_kept", lambda: _unknown_size(5),
     {"drop_remainder": False}, ("ok", 7 / 255)),
    ("unknown_size_empty_is_refused", lambda: _unknown_size(0), {},
     ("error", r"holds 0 images")),
    ("generator_too_small_is_refused", lambda: _generator(3), {}, ("error", r"holds 3 images")),
    ("generator_large_enough_is_kept", lambda: _generator(16), {}, ("ok", 0.0)),
    ("labelled_unknown_size_too_small_is_refused", lambda: tf.data.Dataset.zip(
        _unknown_size(4), tf.data.Dataset.range(9)), {"labels": True},
     ("error", r"holds 4 images")),
    ("known_size_smaller_than_a_batch_is_refused", lambda: tf.data.Dataset.from_tensor_slices(
        np.zeros((5, 4, 4, 1), np.uint8)), {}, ("error", r"has 5 images, fewer than")),
    ("known_empty_is_refused", lambda: tf.data.Dataset.from_tensor_slices(
        np.zeros((0, 4, 4, 1), np.uint8)), {}, ("error", r"empty \(cardinality 0\)")),
]


@pytest.mark.parametrize("build, kwargs, expected", [c[1:] for c in VIEWS_CASES],
                         ids=[c[0] for c in VIEWS_CASES])
def test_make_views_case(build, kwargs, expected):
    arguments = {"batch_size": 16, "shuffle_buffer": 0, "cache": False, **kwargs}
    if expected[0] == "error":
        with pytest.raises(ValueError, match=expected[1]):
            make_views(build(), lambda x: x, **arguments)
        return
    first = next(iter(make_views(build(), lambda x: x, **arguments)))["global"][0]
    assert float(first[0, 0, 0, 0]) == pytest.approx(expected[1], abs=1e-6)


# ----------------------------------------------------------------------------- lost files

# a/0.png .. a/2.png (label 0), b/3.png .. b/5.png (label 1); file i's pixels are 10 * (i + 1)
FILES = {f"{'ab'[i // 3]}/{i}.png": 10 * (i + 1) for i in range(6)}


def _delete(root, name):
    os.remove(os.path.join(root, name))


def _overwrite(data):
    def change(root, name):
        path = os.path.join(root, name)
        with open(path, "wb") as stream:
            stream.write(data(path) if callable(data) else data)
        os.utime(path, ns=(1, 1))  # a replacement's time differs from the scan's
    return change


def _to_folder(root, name):
    os.remove(os.path.join(root, name))
    os.mkdir(os.path.join(root, name))


def _delete_all(root, name):
    for file in FILES:
        _delete(root, file)


# id, (how the file is changed, which file), from_directory arguments, expected:
#   (files skipped, sorted (pixel value, label) pairs read) or ("error", fragment)
LOST_FILE_CASES = [
    ("deleted_file_is_skipped_counted_and_its_place_taken", (_delete, "a/1.png"), {},
     (1, [(10, 0), (30, 0), (30, 0), (40, 1), (50, 1), (60, 1)])),
    ("file_replaced_by_garbage_is_skipped", (_overwrite(GARBAGE), "b/4.png"), {},
     (1, [(10, 0), (20, 0), (30, 0), (40, 1), (60, 1), (60, 1)])),
    ("truncated_file_is_skipped", (_overwrite(lambda p: open(p, "rb").read()[:30]), "a/0.png"),
     {}, (1, [(20, 0), (20, 0), (30, 0), (40, 1), (50, 1), (60, 1)])),
    ("emptied_file_is_skipped", (_overwrite(b""), "a/2.png"), {},
     (1, [(10, 0), (20, 0), (40, 1), (40, 1), (50, 1), (60, 1)])),
    ("file_turned_into_a_folder_is_skipped", (_to_folder, "a/2.png"), {},
     (1, [(10, 0), (20, 0), (40, 1), (40, 1), (50, 1), (60, 1)])),
    ("last_file_deleted_wraps_to_the_first", (_delete, "b/5.png"), {},
     (1, [(10, 0), (10, 0), (20, 0), (30, 0), (40, 1), (50, 1)])),
    ("replaced_by_another_image_of_the_size_reads_the_new_one", (_overwrite(_png(99)), "a/1.png"),
     {}, (0, [(10, 0), (30, 0), (40, 1), (50, 1), (60, 1), (99, 0)])),
    ("replaced_by_an_image_of_another_size_is_skipped",
     (_overwrite(_png(99, (8, 8))), "a/1.png"), {},
     (1, [(10, 0), (30, 0), (30, 0), (40, 1), (50, 1), (60, 1)])),
    ("replaced_by_another_size_with_image_size_is_resized",
     (_overwrite(_png(99, (8, 8))), "a/1.png"), {"image_size": 4},
     (0, [(10, 0), (30, 0), (40, 1), (50, 1), (60, 1), (99, 0)])),
    ("deleted_file_with_shuffled_files_is_skipped", (_delete, "b/3.png"),
     {"shuffle_files": True, "seed": 1}, (1, None)),
    ("deleted_file_unlabelled", (_delete, "a/0.png"), {"labels": None},
     (1, [20, 20, 30, 40, 50, 60])),
    ("every_file_deleted_is_an_error_naming_the_folder", (_delete_all, None), {},
     ("error", r"none of the 6 image files of .*root can be read any more")),
]


@pytest.mark.parametrize("change, kwargs, expected", [c[1:] for c in LOST_FILE_CASES],
                         ids=[c[0] for c in LOST_FILE_CASES])
def test_lost_file_case(tmp_path, change, kwargs, expected):
    root = _build(tmp_path / "root", FILES)
    dataset = from_directory(root, **kwargs)
    change[0](root, change[1])
    if expected[0] == "error":
        with pytest.raises(tf.errors.OpError, match=expected[1]), pytest.warns(
                UserWarning, match="deleted or changed after the scan"):
            _pairs(dataset)
        return
    skips, pairs = expected
    assert int(dataset.cardinality()) == 6  # the epoch keeps its length
    (got, said), (again, said_again) = _recorded(lambda: _pairs(dataset)), _recorded(
        lambda: _pairs(dataset))
    if pairs is not None:
        assert got == pairs == again
    assert len(got) == 6
    if skips:
        assert f"skipped {os.path.join(root, change[1])}" in said and "changed after" in said
        assert said_again == ""  # warned once, counted once
    else:
        assert said == ""


def test_lost_files_are_counted_on_the_scan_and_beyond_the_limit_untouched(tmp_path):
    from keras_contrastive.data.directory import from_scan

    root = _build(tmp_path / "root", FILES)
    scan = scan_image_directory(root)
    limited = from_scan(scan, limit=3)
    _delete(root, "b/4.png")  # beyond the limit: never read
    assert _pairs(limited) == [(10, 0), (20, 0), (30, 0)] and scan.skipped == []
    shutil.rmtree(os.path.join(root, "a"))
    _, said = _recorded(lambda: _pairs(from_scan(scan)))
    assert [os.path.basename(f) for f, _ in scan.skipped] == ["0.png", "1.png", "2.png", "4.png"]
    assert "4 such file(s) so far" in said


def test_a_scan_opened_twice_warns_of_its_skipped_files_once_then_of_new_ones(tmp_path):
    """A pretraining run opens a folder's scan more than once (its element spec, then
    its data): the skipped file was warned of twice, once from inside autograph."""
    from keras_contrastive.data.directory import from_scan

    root = _build(tmp_path / "root", {**FILES, "b/bad.png": GARBAGE})
    scan = scan_image_directory(root)
    _, first = _recorded(lambda: from_scan(scan))
    _, second = _recorded(lambda: _pairs(from_scan(scan)))
    assert "skipped 1 of 7 files" in first and second == ""
    _delete(root, "a/0.png")  # lost after the scan: a new skip, said when it is read
    _, third = _recorded(lambda: _pairs(from_scan(scan)))
    assert "a/0.png" in third and len(scan.skipped) == 2
    _, fourth = _recorded(lambda: from_scan(scan))
    assert "skipped 2 of 7 files" in fourth  # opened again: the count has grown
