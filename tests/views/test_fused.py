"""Fused decode-and-crop (`views.fused`, `make_views(..., fused_decode=True)`):
the sampler's boxes, decode-then-crop's pixels (JPEG's partial decode aside),
the fallbacks (PNG, turned JPEG) and the folder's skipped files."""
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.data import from_directory
from keras_contrastive.data.orientation import apply_orientation
from keras_contrastive.views import RandomResizedCrop, make_views, simclr_augment
from keras_contrastive.views.fused import crop_decoded, decode_crops, split_crop
from tests.reliability.test_data_inputs import _jpeg_with_orientation

SIZE = 16


def _photo(height=75, width=101, seed=0):
    """A smooth, textured colour picture (JPEG-like content), sides not multiples of 16."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (height // 6, width // 6, 3)).astype("float32")
    smooth = tf.image.resize(coarse, (height, width), method="bicubic").numpy()
    noisy = smooth + rng.normal(0, 8, smooth.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def test_fused_boxes_are_the_samplers_and_pixels_match_decode_then_crop():
    photo = _photo()
    jpeg = tf.io.encode_jpeg(photo, quality=90)  # 4:2:0 chroma: partial decode differs at edges
    decoded = tf.io.decode_jpeg(jpeg)
    crop, reference = RandomResizedCrop(SIZE, SIZE, seed=3), RandomResizedCrop(SIZE, SIZE,
                                                                                 seed=3)
    errors = []
    for _ in range(6):  # the seed stream advances alike: call after call, the same boxes
        crops, boxes = decode_crops(jpeg, 1, crop, num_views=2, return_boxes=True)
        expected_boxes = reference.sample_boxes(2, photo.shape[0], photo.shape[1])
        np.testing.assert_array_equal(boxes.numpy(), expected_boxes.numpy())
        expected = crop_decoded(decoded, boxes, crop).numpy().astype(int)
        errors.append(np.abs(crops.numpy().astype(int) - expected))
    errors = np.stack(errors)
    # measured: mean 0.06 level here, 0.8 % of values over 2 levels (max 16, in a few pixels at a window's edge, where
    # the partial decode upsamples the chroma without the rows outside it); mean 0.0005,
    # max 1 on a real 427x640 photo (benchmarks' china.jpg)
    assert errors.mean() < 0.2 and (errors > 2).mean() < 0.02, (errors.mean(), errors.max())
    shifted = crop_decoded(decoded, boxes.numpy() + [1, 1, 0, 0], crop).numpy().astype(int)
    assert np.abs(crops.numpy().astype(int) - shifted).mean() > 1.0  # the check can fail


def test_turned_jpeg_and_png_fall_back_to_decode_then_crop_exactly():
    photo = _photo(40, 56)
    turned = _jpeg_with_orientation(photo, 6)  # shown 56 x 40
    shown = apply_orientation(tf.io.decode_jpeg(turned), 6)
    png = tf.io.encode_png(photo)
    for contents, orientation, image in ((turned, 6, shown), (png, 1, photo)):
        crop, reference = RandomResizedCrop(SIZE, SIZE, seed=1), RandomResizedCrop(SIZE, SIZE,
                                                                                     seed=1)
        crops, boxes = decode_crops(contents, orientation, crop, return_boxes=True)
        np.testing.assert_array_equal(
            boxes.numpy(), reference.sample_boxes(2, image.shape[0], image.shape[1]).numpy())
        np.testing.assert_array_equal(crops.numpy(), crop_decoded(image, boxes, crop).numpy())


def test_folder_of_jpeg_png_and_corrupt_file_makes_labelled_views(tmp_path):
    for name, data in (("a/1.jpg", tf.io.encode_jpeg(_photo(seed=1)).numpy()),
                       ("a/2.png", tf.io.encode_png(_photo(48, 64, seed=2)).numpy()),
                       ("b/3.jpg", tf.io.encode_jpeg(_photo(90, 60, seed=3)).numpy()),
                       ("b/4.jpg", b"\xff\xd8\xff not a picture")):
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with pytest.warns(UserWarning, match="skipped 1 of 4 files"):
        files = from_directory(tmp_path, encoded=True)
    flip_only = simclr_augment(SIZE, strength=0.0, grayscale_prob=0.0, seed=0)  # cheap trace
    views = make_views(files, flip_only, batch_size=3, shuffle_buffer=0,
                       labels=True, fused_decode=True)
    batch = next(iter(views))
    assert [tuple(v.shape) for v in batch["global"]] == [(3, SIZE, SIZE, 3)] * 2
    assert batch["labels"].numpy().tolist() == [0, 0, 1]
    for view in batch["global"]:
        assert 0.0 <= float(tf.reduce_min(view)) and float(tf.reduce_max(view)) <= 1.0


def test_fused_decode_refuses_what_it_cannot_split_or_read():
    with pytest.raises(ValueError, match="starts with a RandomResizedCrop"):
        split_crop(simclr_augment(SIZE, crop_scale=None))
    images = tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="dataset of encoded files"):
        make_views(images, simclr_augment(SIZE), batch_size=2, fused_decode=True)
