"""Image datasets as `tf.data.Dataset`s of uint8 images (+ int64 labels).

Every loader yields unbatched uint8 images ``[H, W, C]``, or ``(image, label)``
pairs with int64 scalar labels when labels exist:

* `load_fashion_mnist` / `load_fashion_mnist_arrays` / `find_fashion_mnist`:
  Fashion-MNIST from its original idx files, found locally before any download;
  `load_tinted_fashion_mnist_arrays`, its class-tinted colour toy.
* `from_directory` / `scan_image_directory`: image files, optionally in class
  sub-folders; unreadable files are skipped, counted and reported.
* `from_tfds`: any TensorFlow Datasets data set with an image feature.
* `from_arrays`: NumPy arrays.
* `set_autotune`: tf.data's autotuning model off (the library's training
  pipelines) or on for a whole pipeline.
* `synthetic_street_masks` / `street_mask_splits`: semantic masks of
  procedurally generated street scenes, single or as query/database pairs
  (the survey chapter's case study, offline); `plot_street_mask_pairs`.
* `textured_scenes`: images of textured regions with their masks (known
  answers for dense evaluation, e.g. `evaluation.segment_retrieval`);
  `glyph_scenes`: a class glyph and a distractor bar with the glyph's box
  (where a class activation map should peak: `evaluation.pointing_game`).

Names are imported lazily, so ``python -m keras_contrastive.data.fetch`` does
not pay for importing TensorFlow.
"""
import importlib

_EXPORTS = {
    "load_fashion_mnist": "fashion_mnist",
    "load_fashion_mnist_arrays": "fashion_mnist",
    "find_fashion_mnist": "fashion_mnist",
    "load_tinted_fashion_mnist_arrays": "fashion_mnist",
    "from_directory": "directory",
    "scan_image_directory": "directory",
    "ImageDirectoryScan": "directory",
    "from_tfds": "tfds",
    "from_arrays": "arrays",
    "synthetic_street_masks": "street_masks",
    "street_mask_splits": "street_masks",
    "plot_street_mask_pairs": "street_masks",
    "STREET_CLASSES": "street_masks",
    "STREET_PALETTE": "street_masks",
    "to_unit_float": "arrays",
    "set_autotune": "arrays",
    "textured_scenes": "textures",
    "TEXTURE_NAMES": "textures",
    "glyph_scenes": "textures",
    "GLYPH_NAMES": "textures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
