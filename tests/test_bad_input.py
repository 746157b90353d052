"""The bad-input matrix: each bad argument or input fails before training with a
message naming the argument and the bad value.

Rows tested in their own modules, where the setting they need lives:
corrupt/truncated and non-image files in a folder are skipped, counted and
warned about (tests/data/test_directory.py::test_corrupt_files_are_skipped_and_counted);
an existing export path is refused unless ``overwrite=True``
(tests/test_export.py::test_existing_version_is_refused_unless_overwrite);
a SavedModel given bytes that are not an image says so
(tests/test_export.py::test_bytes_that_are_not_an_image_are_refused_with_a_message);
a batch that does not split across replicas
(tests/models/test_simclr.py, under a 2-replica MirroredStrategy).
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import models, views
from tests.conftest import fixed_views, small_cnn

IMAGES = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype("uint8")
AUGMENT = views.simclr_augment(28, channels=1)


def _images(array=IMAGES):
    return tf.data.Dataset.from_tensor_slices(array)


def _views(array, batch=16, **extra):
    x = array.astype("float32") / 255.0 if array.dtype == np.uint8 else array
    return tf.data.Dataset.from_tensor_slices({"global": (x, x), **extra}).batch(
        batch, drop_remainder=True)


def _fit(model, data, y=None):
    model.compile(optimizer="sgd")
    model.fit(data, y, epochs=1, verbose=0)


ROWS = {
    # images: rank, channels, dtype, size
    "rank": (lambda: views.make_views(_images().batch(8), AUGMENT, batch_size=16),
             r"images must be unbatched and of rank 3 \[H, W, C\]\. Received images of shape "
             r"\(None, 28, 28, 1\)"),
    "channels": (lambda: _fit(models.SimCLR(small_cnn()),
                              _views(np.zeros((32, 28, 28, 3), "float32"))),
                 r"views\['global'\]\[0\] has 3 channels but the encoder takes 1"),
    "augmentation for RGB on grayscale images": (
        lambda: views.make_views(_images(), views.simclr_augment(28, channels=3), batch_size=16),
        r"`augment` cannot be applied to batches of images \[None, 28, 28, 1\] \(uint8\): "
        r"Dimension must be 3 but is 1"),
    "multi-crop for RGB on grayscale images": (
        lambda: views.make_views(_images(), views.MultiCrop(28, 12, num_local=2), batch_size=16),
        r"the images have 1 channel\(s\) but `augment` \(MultiCrop\) was built for channels=3"),
    "dtype of images": (lambda: views.make_views(_images(IMAGES.astype("int32")), AUGMENT,
                                                 batch_size=16),
                        "images must be uint8 or float in \\[0, 1\\]. Received dtype int32"),
    "dtype of views": (lambda: _fit(models.SimCLR(small_cnn()),
                                    tf.data.Dataset.from_tensor_slices(
                                        {"global": (IMAGES, IMAGES)}).batch(16, drop_remainder=True)),
                       r"views\['global'\]\[0\] is uint8: views must be float images"),
    "view size": (lambda: _fit(models.SimCLR(small_cnn()),
                               _views(np.zeros((32, 20, 20, 1), "float32"))),
                  r"views\['global'\]\[0\] is 20x20 but the encoder takes 28x28"),
    "images smaller than the crop": (
        lambda: views.make_views(_images(), views.simclr_augment(32, channels=1), batch_size=16),
        "crop size 32x32 is larger than the 28x28 images"),
    "multi-crop larger than the images": (
        lambda: views.make_views(_images(), views.MultiCrop(32, 12, num_local=2, channels=1),
                                 batch_size=16),
        "crop size 32x32 is larger than the 28x28 images"),
    # datasets
    "empty dataset": (lambda: views.make_views(_images().take(0), AUGMENT, batch_size=16),
                      r"`dataset` is empty \(cardinality 0\)"),
    "empty views": (lambda: _fit(models.SimCLR(small_cnn()), _views(IMAGES).take(0)),
                    r"the views dataset is empty \(0 batches\)"),
    "fewer images than a batch": (lambda: views.make_views(_images(), AUGMENT, batch_size=100),
                                  "the dataset has 64 images, fewer than batch_size=100"),
    "queue size": (lambda: _fit(models.MoCo(small_cnn(), queue_size=100), _views(IMAGES, 64)),
                   "queue size 100 is not a multiple of the global batch 64"),
    "support set size": (lambda: _fit(models.NNCLR(small_cnn(), support_size=100),
                                      _views(IMAGES, 64)),
                         "100 is not a multiple of the global batch 64"),
    # labels
    "missing labels (SupCon)": (lambda: _fit(models.SupCon(small_cnn()), _views(IMAGES)),
                                r"views\['labels'\] is missing"),
    "missing indices (NPID)": (lambda: _fit(models.NPID(small_cnn(), num_images=64),
                                            _views(IMAGES)),
                               r"NPID keeps one entry per training image: views\['indices'\] is missing"),
    "labels given to a view method": (
        lambda: _fit(models.SimCLR(small_cnn()), IMAGES, np.zeros(64)),
        "SimCLR.fit takes views, not labels: got y=ndarray"),
    "(image, label) pairs instead of views": (
        lambda: _fit(models.SimCLR(small_cnn()),
                     tf.data.Dataset.from_tensor_slices((IMAGES, np.zeros(64))).batch(16)),
        r"labels passed where views are expected: the dataset yields \(images, labels\) pairs"),
    # hyper-parameters
    "temperature 0": (lambda: models.SimCLR(small_cnn(), temperature=0.0),
                      "`temperature` must be > 0, got temperature=0.0"),
    "temperature < 0 (MoCo)": (lambda: models.MoCo(small_cnn(), temperature=-1.0),
                               "`temperature` must be > 0, got temperature=-1.0"),
    "num_images 0 (NPID)": (lambda: models.NPID(small_cnn(), num_images=0),
                            "`num_images` must be a positive integer.*got num_images=0"),
    "temperature 0 (SupCon)": (lambda: models.SupCon(small_cnn(), temperature=0.0),
                               "temperature"),
    "momentum > 1": (lambda: models.MoCo(small_cnn(), momentum=1.5),
                     r"`momentum` must be in \[0, 1\], got momentum=1.5"),
    "momentum < 0": (lambda: models.BYOL(small_cnn(), momentum=-0.1),
                     r"`momentum` must be in \[0, 1\], got momentum=-0.1"),
    "momentum > 1 (DINO)": (lambda: models.DINO(small_cnn(), out_dim=16, momentum=2.0),
                            r"`momentum` must be in \[0, 1\], got momentum=2.0"),
    "projection dim 0": (lambda: models.SimCLR(small_cnn(), projection_dim=0),
                         "`projection_dim` must be an integer >= 1, got projection_dim=0"),
    "hidden dim 0": (lambda: models.SimCLR(small_cnn(), hidden_dim=0),
                     "`hidden_dim` must be an integer >= 1, got hidden_dim=0"),
    "projection dim < 0": (lambda: models.BYOL(small_cnn(), projection_dim=-3),
                           "projection_dim=-3"),
    "DINO out_dim 0": (lambda: models.DINO(small_cnn(), out_dim=0),
                       "`out_dim` must be an integer >= 1, got out_dim=0"),
    # multi-crop
    "local crops larger than global": (
        lambda: views.MultiCrop(28, 32, num_local=2),
        "local crops \\(32 px\\) must not be larger than the global crops \\(28 px\\)"),
    "local size 0": (lambda: views.MultiCrop(28, 0, num_local=2),
                     "`local_size` must be a positive integer, got local_size=0"),
    "local crops without a size": (lambda: views.MultiCrop(28, num_local=2),
                                   "`local_size` is required when num_local > 0"),
    "local crops to a method that ignores them": (
        lambda: _fit(models.SimCLR(small_cnn((None, None, 1))), views.make_views(
            _images(), views.MultiCrop(28, 12, num_local=2, channels=1), batch_size=16)),
        r"SimCLR does not use multi-crop local views"),
    "min_overlap out of range": (
        lambda: views.MultiCrop(28, 12, num_local=2, min_overlap=1.5),
        r"`min_overlap` must be in \(0, 1\], got 1.5"),
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_bad_input_fails_before_training_with_a_message(row):
    make, message = ROWS[row]
    with pytest.raises(ValueError, match=message):
        make()


def test_a_batch_that_does_not_split_across_replicas_is_refused(two_replicas):
    with two_replicas.scope():
        model = models.SimCLR(small_cnn())
    model.compile(optimizer="sgd")
    data = tf.data.Dataset.from_tensors(fixed_views(IMAGES[:15]))
    with pytest.raises(ValueError, match="the batch size 15 cannot be split evenly across 2 "
                                         "replicas; use a multiple of 2"):
        model.fit(data, epochs=1, verbose=0)
