"""Image datasets as `tf.data.Dataset`s of uint8 images (+ int64 labels).

Every loader yields unbatched uint8 images ``[H, W, C]``, or ``(image, label)``
pairs with int64 scalar labels when labels exist:

* `load_fashion_mnist` / `load_fashion_mnist_arrays` / `find_fashion_mnist`:
  Fashion-MNIST from its original idx files, found locally before any download;
  `load_tinted_fashion_mnist_arrays`, its class-tinted colour toy.
* `from_directory` / `scan_image_directory` / `list_class_folders`: image
  files, optionally in class sub-folders (the label map: the training
  split's class folders, reused by the other splits; junk, empty folders and
  links out of the root ignored with a warning); unreadable files, and files
  deleted or corrupted after the scan, are skipped, counted and reported.
* `exif_orientation` / `exif_orientation_tf` / `apply_orientation`: a JPEG
  turned as its EXIF orientation says (what `from_directory` and the
  exported ``serve_bytes`` do; the tag read in Python or in graph ops).
* `from_tfds`: any TensorFlow Datasets data set with an image feature.
* `from_arrays`: NumPy arrays.
* `fashion_scenes`: colour scenes of 1-4 real Fashion-MNIST garments over
  textured or cluttered backgrounds, with masks, boxes and an object-centric
  twin; `long_tailed_indices` / `uniform_indices` (Pareto class sizes);
  `plot_scenes`.
* `fashion_scene_captions` / `scene_captions` / `class_prompts`: a caption of
  each scene from its ground truth (count, classes, colours, positions):
  paired image-text data with known answers for a dual encoder.
* `NAMED_ARRAYS` / `load_named_arrays`: the data sets known by name (the
  CLI's ``--dataset``), each a function ``split -> (images, labels)``.
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
    "list_class_folders": "directory",
    "JUNK_NAMES": "directory",
    "exif_orientation": "orientation",
    "exif_orientation_tf": "orientation",
    "apply_orientation": "orientation",
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
    "fashion_scenes": "scenes",
    "Scenes": "scenes",
    "SCENE_CLASSES": "scenes",
    "SCENE_DATASETS": "scenes",
    "long_tailed_indices": "scenes",
    "uniform_indices": "scenes",
    "scene_arrays": "scenes",
    "named_scenes": "scenes",
    "plot_scenes": "scenes",
    "fashion_scene_captions": "captions",
    "scene_captions": "captions",
    "class_prompts": "captions",
    "CAPTION_CLASS_NAMES": "captions",
    "COLOUR_NAMES": "captions",
}

__all__ = sorted(_EXPORTS) + ["NAMED_ARRAYS", "load_named_arrays"]

# Data sets known by name (``pretrain --dataset NAME``): each maps a split
# ("train" / "test") to ``(images, labels)`` NumPy arrays (uint8 images
# ``[N, H, W, C]``, int64 labels).  A module of this package registers its
# own names here; folders and TFDS names are resolved by the caller.
NAMED_ARRAYS = {
    "fashion_mnist": lambda split: __getattr__("load_fashion_mnist_arrays")(split),
    # the colour toy (colorization)
    "fashion_mnist_tinted": lambda split: __getattr__("load_tinted_fashion_mnist_arrays")(split),
}
# the scene-centric data sets (scenes.SCENE_DATASETS: fashion_scenes, fashion_objects, ...)
NAMED_ARRAYS.update({
    name: (lambda split, name=name: __getattr__("scene_arrays")(name, split))
    for name in importlib.import_module(f"{__name__}.scenes").SCENE_DATASETS})  # NumPy only


def load_named_arrays(name, split):
    """``(images, labels)`` of a data set known by name (``NAMED_ARRAYS``).

    >>> from keras_contrastive.data import load_named_arrays
    >>> images, labels = load_named_arrays("fashion_mnist", "test")
    >>> images.shape, labels.dtype
    ((10000, 28, 28, 1), dtype('int64'))
    """
    if name not in NAMED_ARRAYS:
        raise ValueError(f"unknown data set name {name!r}; known: {sorted(NAMED_ARRAYS)}.")
    return NAMED_ARRAYS[name](split)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
