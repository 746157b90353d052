"""Scene-centric colour images made of real Fashion-MNIST garments, with masks and boxes.

Both source papers argue from scene-centric images: LeOCLR that a random
crop of a scene can miss the object, "Revisiting..." that MoCo's gains from
multi-crop and constrained crops show on scene-centric data and in transfer
to semantic segmentation.  Fashion-MNIST (one centred garment, 28 px, grey)
is the case where both predict little.  This module composes scenes from the
same real pixels:

* a **scene** is a colour canvas (``size`` px, 48 by default) holding 1-4
  garments from the real Fashion-MNIST files (the train split for training
  scenes, the test split for test scenes), each resized to a random side of
  ``scale`` times the canvas, tinted with a random colour (its grey levels
  kept as shading) and placed at random, over a background that is either
  *textured* (stripes, checkers or dots in two dull colours) or *cluttered*
  (rectangles and discs of random dull colours); larger garments are placed
  first, so smaller ones lie on top, and a garment that would keep less than
  ``min_visible`` of its pixels is placed again (then dropped);
* its **mask** holds, per pixel, 0 for background or 1 + the class of the
  garment seen there (``SCENE_CLASSES``); a pixel is a garment's exactly when
  the garment changed it, so the mask is the ground truth of a semantic
  segmentation;
* its **label** is the class of the garment with the most visible pixels
  (the scene's main object: kNN and linear probes read it), and each
  garment's class, box ``(top, left, height, width)`` of its visible pixels
  and visible area are kept;
* the **object-centric twin** (``object_centric=True``) draws, for scene
  ``i``, scene ``i``'s main garment with the same tint, centred and filling
  ``0.85`` of the canvas, over a background drawn the same way: the same
  objects and labels, one per image, as ImageNet is to COCO;
* ``long_tailed_indices`` subsamples Fashion-MNIST with class sizes drawn
  from a Pareto distribution ("Revisiting..." section 3.2 after Liu et al.
  2019), and ``uniform_indices`` gives the uniform subset of the same size,
  so the two pretraining sets hold the same number of images.

Everything is seeded: the same arguments give the same pixels.

Example:

>>> from keras_contrastive.data import fashion_scenes
>>> scenes = fashion_scenes("test", 8, size=48, seed=0)
>>> scenes.images.shape, scenes.images.dtype, scenes.masks.shape
((8, 48, 48, 3), dtype('uint8'), (8, 48, 48))
>>> int(scenes.masks.max()) <= 10, scenes.labels.dtype
(True, dtype('int64'))
"""
import dataclasses
import functools
import os
import zipfile

import numpy as np

from keras_contrastive._checks import is_int, is_positive_int

__all__ = ["SCENE_CLASSES", "Scenes", "fashion_scenes", "long_tailed_indices", "uniform_indices",
           "named_scenes", "scene_arrays", "plot_scenes"]

# mask ids: 0 = background, 1 + Fashion-MNIST class
SCENE_CLASSES = ("background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                 "Shirt", "Sneaker", "Bag", "Ankle boot")
_MAX_OBJECTS = 4


@dataclasses.dataclass(frozen=True)
class Scenes:
    """Scene images and their annotations (``fashion_scenes``' return value).

    Attributes:
        images: uint8 ``[N, S, S, 3]``.
        masks: uint8 ``[N, S, S]``: 0 background, ``1 + class`` per garment pixel.
        labels: int64 ``[N]``: the class (0-9) of the garment with the most visible pixels.
        object_classes: int64 ``[N, 4]``: each garment's class, -1 where absent.
        boxes: int64 ``[N, 4, 4]``: ``(top, left, height, width)`` of each
            garment's visible pixels, -1 where absent.
        areas: int64 ``[N, 4]``: visible pixels of each garment, 0 where absent.
        sources: int64 ``[N, 4]``: each garment's index in its Fashion-MNIST split, -1 where absent.

    Example:

    >>> from keras_contrastive.data import fashion_scenes
    >>> scenes = fashion_scenes("test", 2, seed=1)
    >>> main = scenes.areas.argmax(axis=1)
    >>> bool((scenes.object_classes[[0, 1], main] == scenes.labels).all())
    True
    """

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    object_classes: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    sources: np.ndarray

    def __len__(self):
        return len(self.images)

    def main_boxes(self):
        """``[N, 4]`` box ``(top, left, height, width)`` of each scene's main garment."""
        return self.boxes[np.arange(len(self)), self.areas.argmax(axis=1)]


def _resize_bilinear(image, side):
    """A ``[h, w]`` float image resized to ``[side, side]`` (bilinear, half-pixel centres)."""
    h, w = image.shape

    def axis(n_in):
        pos = np.clip((np.arange(side) + 0.5) * n_in / side - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, (pos - low)

    r0, r1, fr = axis(h)
    c0, c1, fc = axis(w)
    top = image[r0][:, c0] * (1 - fc) + image[r0][:, c1] * fc
    bottom = image[r1][:, c0] * (1 - fc) + image[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def _hsv_to_rgb(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _tint(rng):
    """A saturated, fairly bright colour for a garment."""
    return _hsv_to_rgb(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.65, 1.0))


def _dull(rng):
    """A background colour: less saturated and darker than the garments' tints."""
    return _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.15, 0.6))


def _background(rng, size):
    """A textured or cluttered ``[size, size, 3]`` float background in [0, 1]."""
    a, b = _dull(rng), _dull(rng)
    rows, cols = np.mgrid[:size, :size]
    if rng.random() < 0.5:  # textured: stripes (any angle), checkers or dots
        period = rng.uniform(3.0, 10.0)
        kind = rng.integers(3)
        if kind == 0:
            angle = rng.uniform(0, np.pi)
            pattern = np.sin((rows * np.cos(angle) + cols * np.sin(angle)) * 2 * np.pi / period) > 0
        elif kind == 1:
            phase = rng.uniform(0, period, size=2)
            pattern = (((rows + phase[0]) // period + (cols + phase[1]) // period) % 2) == 0
        else:
            pattern = ((rows % int(period) < 2) & (cols % int(period) < 2))
        canvas = np.where(pattern[..., None], a, b)
    else:  # cluttered: rectangles and discs of dull colours
        canvas = np.broadcast_to(a, (size, size, 3)).copy()
        for _ in range(int(rng.integers(4, 12))):
            colour = _dull(rng)
            top, left = rng.integers(-size // 4, size, size=2)
            height, width = rng.integers(size // 8, size // 2, size=2)
            if rng.random() < 0.5:
                shape = ((rows >= top) & (rows < top + height) & (cols >= left)
                         & (cols < left + width))
            else:
                shape = (rows - top) ** 2 + (cols - left) ** 2 < (height / 2) ** 2
            canvas[shape] = colour
    return canvas


def _garment(grey, side, tint):
    """A garment resized to ``side`` px: its colour ``[side, side, 3]`` and mask ``[side, side]``."""
    shade = _resize_bilinear(grey.astype(np.float32) / 255.0, side)
    mask = shade > 0.15  # Fashion-MNIST garments lie on exact black
    colour = tint * (0.35 + 0.65 * shade[..., None])
    return colour, mask


def _box(region):
    rows, cols = np.nonzero(region)
    return (rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)


@functools.lru_cache(maxsize=4)
def _fashion_split(split):
    from keras_contrastive.data.fashion_mnist import load_fashion_mnist_arrays

    images, labels = load_fashion_mnist_arrays(split)
    return images[..., 0], labels


def _check(split, n, size, objects, scale, min_visible, sources):
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")
    if n is not None and not is_positive_int(n):
        raise ValueError(f"`n` must be a positive integer or None, got {n!r}.")
    if not is_int(size) or size < 16:
        raise ValueError(f"`size` must be an integer >= 16, got {size!r}.")
    if (len(objects) != 2 or not all(is_int(k) for k in objects)
            or not 1 <= objects[0] <= objects[1] <= _MAX_OBJECTS):
        raise ValueError(f"`objects` must be (min, max) with 1 <= min <= max <= {_MAX_OBJECTS}, "
                         f"got {objects!r}.")
    if len(scale) != 2 or not 0.1 <= scale[0] <= scale[1] <= 1.0:
        raise ValueError(f"`scale` must be (low, high) with 0.1 <= low <= high <= 1, got "
                         f"{scale!r}.")
    if not 0.0 <= min_visible <= 1.0:
        raise ValueError(f"`min_visible` must be in [0, 1], got {min_visible!r}.")
    if sources is not None and len(sources) == 0:
        raise ValueError("`sources` is empty: no garments to draw from.")


def fashion_scenes(split="train", n=None, size=48, objects=(1, 4), scale=(0.35, 0.75),
                   min_visible=0.5, object_centric=False, sources=None, seed=0):
    """Scenes of 1-4 tinted Fashion-MNIST garments over textured or cluttered backgrounds.

    Args:
        split: ``"train"`` (garments of the training split) or ``"test"``.
        n: number of scenes (default: as many as the split has garments).
        size: side of the square canvas in pixels (>= 16).
        objects: ``(min, max)`` garments per scene (at most 4).
        scale: range of a garment's side as a fraction of ``size``.
        min_visible: least fraction of a garment's pixels left visible by the
            garments on top of it (else it is placed again, then dropped).
        object_centric: one centred garment per image, filling 0.85 of the
            canvas: scene ``i``'s main garment with its tint (the twin data set).
        sources: indices of the split's garments to draw from (default: all),
            e.g. ``long_tailed_indices(...)``.
        seed: the same seed (and arguments) gives the same scenes.

    Returns:
        A :class:`Scenes`.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data import fashion_scenes
    >>> scenes = fashion_scenes("train", 4, seed=0)
    >>> twins = fashion_scenes("train", 4, seed=0, object_centric=True)
    >>> bool(np.array_equal(scenes.labels, twins.labels)), int(twins.areas[:, 1:].max())
    (True, 0)
    """
    _check(split, n, size, objects, scale, min_visible, sources)
    garments, classes = _fashion_split(split)
    pool = np.arange(len(garments)) if sources is None else np.asarray(sources, np.int64)
    n = len(pool) if n is None else n
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    order = rng.permutation(len(pool))
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    out_classes = np.full((n, _MAX_OBJECTS), -1, np.int64)
    boxes = np.full((n, _MAX_OBJECTS, 4), -1, np.int64)
    areas = np.zeros((n, _MAX_OBJECTS), np.int64)
    out_sources = np.full((n, _MAX_OBJECTS), -1, np.int64)
    cursor = 0
    for i in range(n):
        # the scene is drawn in full first, so the twin sees the same random stream
        count = int(rng.integers(objects[0], objects[1] + 1))
        picked = []
        for _ in range(count):
            picked.append(int(pool[order[cursor % len(pool)]]))
            cursor += 1
        sides = np.sort(rng.uniform(scale[0], scale[1], size=count) * size)[::-1]
        tints = [_tint(rng) for _ in range(count)]
        canvas = _background(rng, size)
        twin_background = _background(rng, size)
        placements = rng.random((count, 8, 2))  # up to 8 tries per garment
        noise = rng.normal(0.0, 4.0, size=(size, size, 3))
        ids = np.full((size, size), -1, np.int64)  # which placed garment owns a pixel
        full_areas = []
        for j, (source, side, tint) in enumerate(zip(picked, sides, tints)):
            side = max(4, int(round(side)))
            colour, shape = _garment(garments[source], side, tint)
            for place in placements[j]:
                top, left = (place * (size - side + 1)).astype(int)
                window = ids[top:top + side, left:left + side]
                trial = window.copy()
                trial[shape] = j
                trial_ids = ids.copy()
                trial_ids[top:top + side, left:left + side] = trial
                if all((trial_ids == k).sum() >= min_visible * full_areas[k]
                       for k in range(j)) and shape.any():
                    ids = trial_ids
                    region = canvas[top:top + side, left:left + side]
                    region[shape] = colour[shape]
                    full_areas.append(int(shape.sum()))
                    break
            else:
                full_areas.append(0)  # dropped: it would hide too much of the others
        visible = np.array([(ids == j).sum() for j in range(count)])
        main = int(np.argmax(visible))
        if object_centric:
            side = int(round(0.85 * size))
            colour, shape = _garment(garments[picked[main]], side, tints[main])
            canvas = twin_background
            offset = (size - side) // 2
            region = canvas[offset:offset + side, offset:offset + side]
            region[shape] = colour[shape]
            ids = np.full((size, size), -1, np.int64)
            ids[offset:offset + side, offset:offset + side][shape] = 0
            picked, count = [picked[main]], 1
            visible = np.array([int(shape.sum())])
            main = 0
        kept = 0
        for j in range(count):
            if visible[j] == 0:
                continue
            where = ids == j
            masks[i][where] = 1 + classes[picked[j]]
            out_classes[i, kept] = classes[picked[j]]
            boxes[i, kept] = _box(where)
            areas[i, kept] = visible[j]
            out_sources[i, kept] = picked[j]
            kept += 1
        images[i] = np.clip(canvas * 255.0 + noise, 0, 255).round().astype(np.uint8)
    labels = out_classes[np.arange(n), areas.argmax(axis=1)]
    return Scenes(images, masks, labels, out_classes, boxes, areas, out_sources)


def long_tailed_indices(labels, total, alpha=6.0, imbalance=256.0, seed=0):
    """Indices of a long-tailed subset of ``total`` images whose class sizes follow a Pareto law.

    "Revisiting..." (section 3.2) adopts Liu et al.'s (2019) ImageNet-LT
    sampling: class sizes follow a Pareto distribution with power
    ``alpha`` = 6, from 1280 images down to 5 (a head-to-tail ratio of 256).
    Here the classes, in a random order, take sizes proportional to the
    Pareto density ``x ** -(alpha + 1)`` at evenly spaced ``x`` from 1 to
    ``imbalance ** (1 / (alpha + 1))``, so the largest class is
    ``imbalance`` times the smallest; the sizes are scaled to sum to
    ``total`` and capped by what each class has (the excess goes to the
    other classes in proportion).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data import long_tailed_indices
    >>> labels = np.repeat(np.arange(10), 2000)
    >>> sizes = np.sort(np.bincount(labels[long_tailed_indices(labels, 2000)], minlength=10))
    >>> int(sizes.sum()), int(sizes[-1]), int(sizes[0])
    (2000, 1109, 4)
    """
    labels = np.asarray(labels)
    if not is_positive_int(total) or total > len(labels):
        raise ValueError(f"`total` must be a positive integer <= {len(labels)} (the images), got "
                         f"{total!r}.")
    if alpha <= 0:
        raise ValueError(f"`alpha` must be positive, got {alpha!r}.")
    if imbalance < 1:
        raise ValueError(f"`imbalance` must be >= 1, got {imbalance!r}.")
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(labels))
    x = np.linspace(1.0, imbalance ** (1.0 / (alpha + 1.0)), len(classes))
    weights = x ** -(alpha + 1.0)
    available = np.array([(labels == c).sum() for c in classes])
    counts = np.zeros(len(classes), np.int64)
    while counts.sum() < total:
        open_ = counts < available
        remaining = total - counts.sum()
        share = weights * open_ / (weights * open_).sum() * remaining
        add = np.minimum(np.floor(share).astype(np.int64), available - counts)
        if add.sum() == 0:  # rounding: one more to the largest open class
            add[np.argmax(np.where(open_, weights, -1.0))] = 1
        counts += add
    picked = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, counts)]
    return np.sort(np.concatenate(picked))


def uniform_indices(labels, total, seed=0):
    """Indices of a class-balanced subset of ``total`` images (the long-tailed subset's twin).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.data import uniform_indices
    >>> labels = np.repeat(np.arange(10), 100)
    >>> np.bincount(labels[uniform_indices(labels, 400)], minlength=10).tolist()
    [40, 40, 40, 40, 40, 40, 40, 40, 40, 40]
    """
    labels = np.asarray(labels)
    if not is_positive_int(total) or total > len(labels):
        raise ValueError(f"`total` must be a positive integer <= {len(labels)} (the images), got "
                         f"{total!r}.")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    counts = np.full(len(classes), total // len(classes))
    counts[rng.permutation(len(classes))[:total % len(classes)]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, counts)]
    return np.sort(np.concatenate(picked))


# The named data sets (``pretrain --dataset NAME``): 48-px scenes, 20,000 for
# training and 2,000 for testing; "_lt" draws the training garments from a
# long-tailed subset of 12,000 Fashion-MNIST images (Pareto, 256:1) and
# "_uniform" from a balanced one of the same size, so the two differ only in
# class balance (the test scenes are the same for all).
SCENE_DATASETS = {
    "fashion_scenes": {},
    "fashion_objects": {"object_centric": True},
    "fashion_scenes_uniform": {"pool": "uniform"},
    "fashion_scenes_lt": {"pool": "long_tailed"},
    "fashion_objects_uniform": {"object_centric": True, "pool": "uniform"},
    "fashion_objects_lt": {"object_centric": True, "pool": "long_tailed"},
}
SCENE_SIZES = {"train": 20_000, "test": 2_000}
POOL_SIZE = 12_000


def _cache_path(name, split):
    """Where a named scene set is cached: keyed by this module's source, so a change to how
    scenes are drawn never reads an old file."""
    import hashlib

    with open(__file__, "rb") as source:
        digest = hashlib.sha1(source.read()).hexdigest()[:12]
    root = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(root, "datasets", "keras_contrastive_scenes",
                        f"{name}_{split}_{digest}.npz")


@functools.lru_cache(maxsize=8)
def _named_scenes(name, split):
    """A named scene set, drawn once and cached on disk (about 16 s for 20,000 scenes)."""
    path = _cache_path(name, split)
    try:
        with np.load(path) as stored:
            return Scenes(**{field.name: stored[field.name]
                             for field in dataclasses.fields(Scenes)})
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # absent, partial or foreign
        pass
    scenes = _draw_named_scenes(name, split)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(temporary, **dataclasses.asdict(scenes))
        os.replace(temporary, path)  # atomic: a parallel reader sees the old or the whole file
    except OSError:  # a read-only home: the scenes are still returned
        pass
    return scenes


def _draw_named_scenes(name, split):
    options = dict(SCENE_DATASETS[name])
    pool = options.pop("pool", None)
    if pool and split == "train":
        _, labels = _fashion_split("train")
        select = long_tailed_indices if pool == "long_tailed" else uniform_indices
        options["sources"] = select(labels, POOL_SIZE, seed=0)
    return fashion_scenes(split, SCENE_SIZES[split], seed=0, **options)


def named_scenes(name, split):
    """The :class:`Scenes` of a named scene data set (``SCENE_DATASETS``), cached.

    Example:

    >>> from keras_contrastive.data import named_scenes
    >>> named_scenes("fashion_scenes", "test").images.shape
    (2000, 48, 48, 3)
    """
    if name not in SCENE_DATASETS:
        raise ValueError(f"unknown scene data set {name!r}; choose one of "
                         f"{sorted(SCENE_DATASETS)}.")
    return _named_scenes(name, split)


def scene_arrays(name, split, masks=False):
    """``(images, labels)`` (and ``masks`` if asked) of a named scene data set (``SCENE_DATASETS``).

    Example:

    >>> from keras_contrastive.data.scenes import SCENE_DATASETS
    >>> sorted(SCENE_DATASETS)[:2]
    ['fashion_objects', 'fashion_objects_lt']
    """
    scenes = named_scenes(name, split)
    if masks:
        return scenes.images, scenes.labels, scenes.masks
    return scenes.images, scenes.labels


def plot_scenes(scenes, path, columns=8):
    """Writes a PNG of scenes (top) and their masks in colour (bottom).

    Example:

    >>> import os, tempfile
    >>> from keras_contrastive.data import fashion_scenes, plot_scenes
    >>> path = plot_scenes(fashion_scenes("test", 4), os.path.join(tempfile.mkdtemp(), "s.png"))
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    from keras_contrastive import plotting

    palette = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                        [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                        [210, 245, 60], [250, 190, 212]], np.uint8)
    columns, rows = plotting.grid(len(scenes), columns)
    fig, axes = plotting.figure(2 * rows, columns, figsize=(1.4 * columns, 2.9 * rows))
    for axis in axes.ravel():
        axis.axis("off")
    for i in range(len(scenes)):
        row, column = divmod(i, columns)
        plotting.show_image(axes[2 * row, column], scenes.images[i])
        axes[2 * row, column].set_title(SCENE_CLASSES[1 + scenes.labels[i]], fontsize=7)
        plotting.show_image(axes[2 * row + 1, column], palette[scenes.masks[i]])
    return plotting.save(fig, path)
