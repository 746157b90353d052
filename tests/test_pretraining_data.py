"""A run's data by name: folders and TFDS data sets stream into training (memory
flat in the data set's size) and are resized to ``image_size`` when read."""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_contrastive.pretraining import PretrainConfig, open_splits, pretrain
from keras_contrastive.pretraining.sources import STREAM_SHUFFLE_BUFFER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png_bytes(image):
    """A uint8 ``[H, W, 3]`` array as PNG file contents (filter 0, zlib level 1)."""
    height, width, _ = image.shape
    rows = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def write_image_folder(root, count, size=32, seed=0, sizes=None, classes=2):
    """``count`` PNGs in ``classes`` class sub-folders (``c000``, ``c001``, ...; the
    even ones dark, the odd ones bright), of ``size`` or of the ``sizes`` in turn."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        label = index * classes // count
        folder = os.path.join(root, f"c{label:03d}")
        os.makedirs(folder, exist_ok=True)
        height, width = sizes[index % len(sizes)] if sizes else (size, size)
        image = rng.integers(0, 96, (height, width, 3), dtype=np.uint8) + 128 * (label % 2)
        with open(os.path.join(folder, f"{index:06d}.png"), "wb") as f:
            f.write(png_bytes(image.astype(np.uint8)))
    return str(root)


_PEAK = """
import resource, sys
from keras_contrastive import cli
code = cli.run(["pretrain", "--dataset", sys.argv[1], "--epochs", "1", "--batch-size", "256",
                "--width", "2", "--stem", "imagenet", "--eval-train-subset", "256",
                "--eval-test-subset", "128"])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def peak_rss_of_pretrain(folder, pythonpath=ROOT):
    """Peak resident memory (KB) of a ``keras-contrastive pretrain`` process over
    ``folder``, with the package found on ``pythonpath`` (run from the folder's
    parent, so that the working directory does not shadow it)."""
    result = subprocess.run([sys.executable, "-c", _PEAK, folder], capture_output=True,
                            text=True, timeout=900, cwd=os.path.dirname(folder),
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                     PYTHONPATH=pythonpath))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith("PEAK_KB")][-1]
    assert line.split()[2] == "0", result.stdout[-2000:]
    return int(line.split()[1])


def test_pretrain_memory_stays_flat_when_the_image_folder_grows_4x(tmp_path):
    """The training split streams from the files and evaluation reads its fixed
    subsets, so 4x the images leaves the peak within 10 %.  Reading the folder
    into arrays (as before: both splits, the training copy, views' cache and
    shuffle buffer in float32) put about 6,000 x 76 KB = 0.46 GB more on top of
    about 1.1 GB at 8,000 images of 48 x 48."""
    # 128 images a class: the evaluation's first 256 training images hold two classes
    small = write_image_folder(tmp_path / "small", 2000, size=48, classes=2000 // 128)
    large = write_image_folder(tmp_path / "large", 8000, size=48, seed=1, classes=8000 // 128)
    peaks = [peak_rss_of_pretrain(folder) for folder in (small, large)]
    assert peaks[1] <= 1.10 * peaks[0], peaks


class KcMixedSizes(tfds.core.GeneratorBasedBuilder):
    """Images of three sizes, written by the test as PNG files: TFDS data set "kc_mixed_sizes"."""

    VERSION = tfds.core.Version("1.0.0")
    SOURCE = None  # the folder with train/ and test/ class sub-folders, set by the fixture
    HELD_OUT = "test"  # the name of the held-out split ("validation" as ImageNet)

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=["c000", "c001"]),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(os.path.join(self.SOURCE, "train")),
                self.HELD_OUT: self._generate_examples(os.path.join(self.SOURCE, "test"))}

    def _generate_examples(self, folder):
        for label in ("c000", "c001"):
            for name in sorted(os.listdir(os.path.join(folder, label))):
                yield f"{label}/{name}", {"image": os.path.join(folder, label, name),
                                          "label": label}


@pytest.fixture
def mixed_size_tfds(tmp_path, monkeypatch):
    """``kc_mixed_sizes`` prepared in a temporary TFDS data dir, which TFDS then
    searches by default (nothing is downloaded)."""
    sizes = [(20, 24), (31, 17), (40, 40)]
    write_image_folder(tmp_path / "source" / "train", 48, sizes=sizes)
    write_image_folder(tmp_path / "source" / "test", 24, sizes=sizes, seed=1)
    monkeypatch.setattr(KcMixedSizes, "SOURCE", str(tmp_path / "source"))
    data_dir = str(tmp_path / "tfds")
    KcMixedSizes(data_dir=data_dir).download_and_prepare()
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", data_dir)
    return "kc_mixed_sizes"


def test_pretrain_on_a_tfds_data_set_of_mixed_sizes_resizes_to_image_size(mixed_size_tfds):
    seen = {}

    def evaluator(encoder, train, test, config):
        seen["train"] = [x for x, _ in train]  # streamed: all of the split, unbatched
        seen["test"] = [x for x, _ in test]
        return {"evaluated": 1.0}

    config = PretrainConfig(method="simclr", dataset=mixed_size_tfds, image_size=16, epochs=1,
                            batch_size=8, width=4)
    result = pretrain(config, verbose=0, evaluate_random_init=False, log=lambda *a: None,
                      evaluator=evaluator)
    assert int(result.model.optimizer.iterations.numpy()) == 48 // 8
    assert np.isfinite(result.history["loss"][0])
    assert result.model.encoder.input_shape == (None, 16, 16, 3)
    assert len(seen["train"]) == 48 and len(seen["test"]) == 24
    assert {tuple(x.shape) for x in seen["train"] + seen["test"]} == {(16, 16, 3)}


def test_a_tfds_data_set_of_mixed_sizes_without_image_size_is_refused(mixed_size_tfds):
    with pytest.raises(ValueError, match="several sizes.*set image_size"):
        open_splits(mixed_size_tfds)


def test_a_tfds_data_set_without_a_test_split_is_evaluated_on_validation(
        mixed_size_tfds, tmp_path, monkeypatch):
    monkeypatch.setattr(KcMixedSizes, "HELD_OUT", "validation")
    data_dir = str(tmp_path / "tfds_validation")
    KcMixedSizes(data_dir=data_dir).download_and_prepare()
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", data_dir)
    train, test = open_splits(mixed_size_tfds, image_size=8)
    assert (train.split, train.count, test.split, test.count) == ("train", 48, "validation", 24)
    assert test.arrays(3)[0].shape == (3, 8, 8, 3)


def test_a_folder_split_is_counted_without_reading_it_and_streams_shuffled(tmp_path):
    folder = write_image_folder(tmp_path / "images", 40, size=8)
    train, test = open_splits(folder, image_size=4)
    assert (train.count, train.image_shape, train.in_memory) == (40, (4, 4, 3), False)
    images, options = train.training_images(limit=30, seed=0)  # a function of the epoch
    assert options == {"cache": False, "shuffle_buffer": 0}
    first, second, again = ([int(tf.reduce_sum(tf.cast(x, tf.int64))) for x in images(
        tf.constant(epoch, tf.int64))] for epoch in (0, 1, 0))
    assert len(first) == 30 and sorted(first) == sorted(second) and first != second
    assert again == first  # each epoch's order is a function of (seed, epoch)
    # with indices, an image's position must not change: the files keep their order
    # and make_views shuffles them after counting, in its buffer
    indexed, options = train.training_images(limit=30, seed=0, indices=True)
    assert options == {"cache": False, "shuffle_buffer": STREAM_SHUFFLE_BUFFER}
    third, fourth = ([int(tf.reduce_sum(tf.cast(x, tf.int64))) for x in indexed] for _ in "ab")
    assert third == fourth and sorted(third) == sorted(first)
    arrays = test.arrays(10)
    assert arrays[0].shape == (10, 4, 4, 3)
    assert arrays[1].tolist() == [0] * 10  # the first files: c000/ sorts first


def test_an_unlabelled_folder_of_mixed_sizes_opens_at_its_median_size_and_skips_evaluation(
        tmp_path):
    """Images in train/ without class sub-folders (and no test/), of three sizes:
    the run's split opens at their median height and width (said in one line), has
    no labels, and the run's evaluation is skipped with the line that says why."""
    from keras_contrastive.pretraining import PRESETS, PretrainResult, format_report
    from keras_contrastive.pretraining.run import NO_LABELS_LINE, _evaluation_splits
    from keras_contrastive.pretraining.sources import open_training_splits

    rng = np.random.default_rng(0)
    os.makedirs(tmp_path / "train")
    for index, (height, width) in enumerate([(10, 30), (12, 16), (20, 14)] * 2):
        with open(tmp_path / "train" / f"{index}.png", "wb") as f:
            f.write(png_bytes(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)))
    said = []
    train, test = open_training_splits(str(tmp_path), log=said.append)
    assert test is None and not train.labelled and train.image_shape == (12, 16, 3)
    assert len(said) == 1 and "median size, 12x16" in said[0] and "--image-size" in said[0]
    images, labels = train.arrays()
    assert images.shape == (6, 12, 16, 3) and labels is None
    config = PRESETS["quality"].replace(dataset=str(tmp_path))
    assert _evaluation_splits(config, train, test, (12, 16), said.append) == (None, None, None)
    assert said[-1] == NO_LABELS_LINE
    report = format_report(config, PretrainResult(None, {}, 1.0, 1.0, {}))
    assert report.endswith("not evaluated (no labels): pass --eval-dataset "
                           "LABELLED_FOLDER_OR_TFDS to evaluate")
    with pytest.raises(ValueError, match=r"no labels .*\(SupCon\) needs them; pass --dataset"):
        train.training_images(labels=True)

