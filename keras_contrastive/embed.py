"""Embeddings of your own images: a folder (labelled or not), a TFDS split or a
named data set, through an exported encoder's own serving preprocessing; each
image's nearest neighbours; ``.npz``, ``.csv`` and ``.parquet`` files.

An export (``export_encoder``'s folder, or one of its version folders) is
used as TF Serving would use it: a folder's files go, as bytes, through its
``serve_bytes`` signature (decode, to the model's channels, bilinear resize
with antialiasing, scale) and arrays through ``serve_uint8``, so these
embeddings are the ones a server returns for the same files.  A ``.keras``
model is first exported to a temporary folder and used the same way.  Like
``serve_bytes`` (of an export made since it does) and the training folder
loader, embedding turns a JPEG as its EXIF orientation says.
Embeddings are the backbone's features, not L2-normalised.

Example:

```python
import keras, os, tempfile, numpy as np
from PIL import Image
from keras_contrastive.embed import embed, nearest_neighbours, save_embeddings
from keras_contrastive.export import export_encoder

folder = tempfile.mkdtemp()
for name in ("cats", "dogs"):
    os.makedirs(os.path.join(folder, name))
    for i in range(3):
        pixels = np.random.default_rng(i).integers(0, 256, (20, 24, 3), np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, name, f"{i}.png"))
encoder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                            keras.layers.Dense(4)])
export = export_encoder(encoder, tempfile.mkdtemp())
result = embed(export, folder, neighbours=2)
print(result.embeddings.shape, result.names[0], result.class_names)  # (6, 4) cats/0.png ...
save_embeddings(result, os.path.join(tempfile.mkdtemp(), "embeddings.npz"))
```
"""
import csv
import dataclasses
import io
import os
import re
import shutil
import tempfile
import warnings

import numpy as np

__all__ = ["Embedder", "Embeddings", "embed", "embed_arrays", "embed_folder", "embed_tfds",
           "load_embeddings", "nearest_neighbours", "neighbour_method", "open_embedder",
           "save_embeddings"]

#: Images sent to the encoder per call.
BATCH_SIZE = 64
#: From this many images, ``nearest_neighbours(method="auto")`` uses faiss when
#: it is installed (``pip install faiss-cpu``); below it, or without faiss, the
#: exact NumPy search.
FAISS_MIN_IMAGES = 20_000
#: Bytes of similarities the exact search holds at once (a block of query rows
#: against every image): memory stays bounded whatever the number of images.
EXACT_BLOCK_BYTES = 64 * 2 ** 20
_PROGRESS_MIN = 256  # images: a progress bar from this many (progress=None)
_WARN_NAMES = 5  # skipped files named in the warning; the rest are counted
_FORMATS = (".npz", ".csv", ".parquet")


@dataclasses.dataclass
class Embeddings:
    """What :func:`embed` returns (and :func:`load_embeddings` reads back).

    Attributes:
        embeddings: float32 ``[N, D]``, the encoder's output (not normalised).
        names: ``N`` strings: a file's path relative to the folder, or the
            image's index in its split (TFDS, named data sets).
        labels: int64 ``[N]`` indices into ``class_names``, or None (no labels).
        class_names: the label map (``[]`` when unknown).
        source: the data as given.
        skipped: ``(file, reason)`` of every file that was not embedded.
        thumbnails: uint8 ``[N, t, t, 3]`` pictures of the images in the
            model's channels (for :mod:`keras_contrastive.embedding_plots`), or None.
        neighbours: int64 ``[N, K]``: each image's nearest neighbours, most
            similar first (itself excluded), or None.
        similarities: float32 ``[N, K]``: their cosine similarities.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.embed import Embeddings
    >>> result = Embeddings(np.eye(3, dtype="float32"), ["a", "b", "c"], np.array([0, 1, 1]),
    ...                     ["cat", "dog"], "folder")
    >>> result.label_names()
    ['cat', 'dog', 'dog']
    """

    embeddings: np.ndarray
    names: list
    labels: np.ndarray = None
    class_names: list = dataclasses.field(default_factory=list)
    source: str = ""
    skipped: list = dataclasses.field(default_factory=list)
    thumbnails: np.ndarray = None
    neighbours: np.ndarray = None
    similarities: np.ndarray = None

    def label_names(self):
        """Each image's class name (its label as a string without a label map;
        ``""`` for all without labels)."""
        if self.labels is None:
            return [""] * len(self.names)
        if self.class_names:
            return [self.class_names[int(label)] for label in self.labels]
        return [str(int(label)) for label in self.labels]

    def add_neighbours(self, k, method="auto"):
        """Sets ``neighbours`` and ``similarities`` to each image's ``k``
        nearest (:func:`nearest_neighbours`); returns the method used."""
        self.neighbours, self.similarities = nearest_neighbours(self.embeddings, k, method)
        return neighbour_method(len(self.names), method)


class Embedder:
    """An exported encoder's ``serve_bytes`` and ``serve_uint8`` signatures, as
    NumPy functions.

    Example:

    >>> from keras_contrastive.embed import Embedder
    >>> Embedder("no_such_export")  # the embed_arrays example uses one (from_uint8)
    Traceback (most recent call last):
    ...
    FileNotFoundError: No exported encoder at no_such_export: the directory does not exist.
    """

    def __init__(self, export_dir):
        import tensorflow as tf

        from keras_contrastive import export

        self.version_dir = export.servable_version(export_dir)
        self._loaded = tf.saved_model.load(self.version_dir)  # keeps the variables alive
        self._bytes = self._loaded.signatures[export.BYTES_SIGNATURE]
        self._uint8 = self._loaded.signatures[export.UINT8_SIGNATURE]
        self._output = export.OUTPUT_NAME
        served = self._loaded.signatures[export.SIGNATURE_NAME].structured_input_signature[1]
        self.input_shape = tuple(served[export.INPUT_NAME].shape[1:])

    def from_bytes(self, contents):
        """float32 ``[B, D]`` of ``B`` encoded images (JPEG, PNG, GIF, BMP, WebP)."""
        import tensorflow as tf

        return self._bytes(image_bytes=tf.constant(list(contents), tf.string))[
            self._output].numpy()

    def from_uint8(self, images):
        """float32 ``[B, D]`` of uint8 images ``[B, h, w, c]`` of any size."""
        import tensorflow as tf

        return self._uint8(images=tf.constant(np.asarray(images, np.uint8)))[self._output].numpy()


def open_embedder(model):
    """An :class:`Embedder` of ``model``: an export folder (base or version), a
    ``.keras`` file, a ``keras.Model`` encoder or a trained ``ContrastiveModel``
    (the last three are exported to a temporary folder first, so their
    preprocessing is the served one), or an :class:`Embedder` itself.

    Example:

    >>> from keras_contrastive.embed import open_embedder
    >>> open_embedder("missing.keras")  # the embed_arrays example opens a keras.Model
    Traceback (most recent call last):
    ...
    FileNotFoundError: no saved model at 'missing.keras'.
    """
    if isinstance(model, Embedder):
        return model
    if isinstance(model, (str, os.PathLike)) and not str(model).endswith(".keras"):
        return Embedder(model)
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isfile(model):
            raise FileNotFoundError(f"no saved model at {os.fspath(model)!r}.")
        import keras

        import keras_contrastive.models  # noqa: F401  (registers the methods' classes)

        model = keras.models.load_model(model)
    from keras_contrastive.export import export_encoder

    staging = tempfile.mkdtemp(prefix="keras-contrastive-embed-")
    try:
        return Embedder(export_encoder(model, staging))
    finally:  # the loaded SavedModel holds its variables in memory
        shutil.rmtree(staging, ignore_errors=True)


def _progress(total, progress):
    if progress is False or (progress is None and total < _PROGRESS_MIN):
        return None
    import keras

    return keras.utils.Progbar(total, unit_name="image")


def _thumbnails(images, size):
    """uint8 ``[B, size, size, 3]`` of float images ``[B, H, W, C]`` in [0, 1]."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.concat([images] * 3, axis=-1)
    small = tf.image.resize(images[..., :3], (size, size), antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(small * 255.0, 0.0, 255.0)), tf.uint8).numpy()


def _file_thumbnail(data, channels, size):
    """uint8 ``[size, size, 3]``: an image file as the model takes it (grey for a
    grey model, alpha dropped, a JPEG turned as its EXIF orientation says, like
    ``serve_bytes``), for pictures."""
    from PIL import Image

    from keras_contrastive.data.orientation import apply_orientation, exif_orientation

    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("L" if channels == 1 else "RGB").convert("RGB")
            shown = apply_orientation(np.asarray(image), exif_orientation(data)).numpy()
            return np.asarray(Image.fromarray(shown).resize((size, size), Image.BILINEAR,
                                                            reducing_gap=2.0))
    except (OSError, ValueError):  # a file Pillow cannot read: a grey square
        return np.full((size, size, 3), 128, np.uint8)


def _refusal(error):
    """Why ``serve_bytes`` refused one file, from its error."""
    text = str(getattr(error, "message", error))
    over = re.search(r"more than max_pixels=(\d+)", text)
    if over:
        return f"refused by the export: over its max_pixels={over.group(1)} pixels"
    return "refused by the export: it could not decode it"


def embed_folder(model, folder, batch_size=BATCH_SIZE, labels="inferred", thumbnail_size=None,
                 progress=None):
    """Embeds every image below ``folder`` through the export's ``serve_bytes``.

    The folder is scanned as ``data.from_directory`` scans it: class
    sub-folders give labels (``labels=None`` ignores them), junk names are
    ignored, and files that are not readable images are skipped, counted and
    named in a warning (``result.skipped`` lists them all); so is a file the
    export refuses (e.g. over its ``max_pixels``).

    Args:
        model: what :func:`open_embedder` takes.
        folder: the image folder.
        batch_size: files per call of the encoder.
        labels: ``"inferred"`` or None.
        thumbnail_size: keep a ``t x t`` RGB thumbnail of each image, in the
            model's channels (``N * t * t * 3`` bytes), for the pictures; None: none.
        progress: a progress bar (``keras.utils.Progbar``); None: from
            256 images.

    Returns:
        :class:`Embeddings` (names: paths relative to ``folder``).

    Example (an unlabelled folder; ``model`` may be an export's folder):

    >>> import keras, os, tempfile, numpy as np
    >>> from PIL import Image
    >>> from keras_contrastive.embed import embed_folder
    >>> folder = tempfile.mkdtemp()
    >>> for name, size in (("a.png", (20, 30)), ("b.jpg", (24, 24))):
    ...     Image.new("RGB", size).save(os.path.join(folder, name))
    >>> encoder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
    ...                             keras.layers.Dense(3)])
    >>> result = embed_folder(encoder, folder)
    >>> result.names, result.embeddings.shape, result.labels
    (['a.png', 'b.jpg'], (2, 3), None)
    """
    from keras_contrastive.data.directory import scan_image_directory

    embedder = open_embedder(model)
    scan = scan_image_directory(folder, labels=labels)
    if not scan.files:
        raise ValueError(f"no readable image files in {folder} ({len(scan.skipped)} other "
                         "files).")
    bar = _progress(len(scan.files), progress)
    chunks, kept, thumbs, skipped = [], [], [], list(scan.skipped)
    for start in range(0, len(scan.files), batch_size):
        indices, contents = [], []
        for index in range(start, min(start + batch_size, len(scan.files))):
            try:
                with open(scan.files[index], "rb") as stream:
                    contents.append(stream.read())
                indices.append(index)
            except OSError as error:
                skipped.append((scan.files[index], f"unreadable ({error.strerror or error})"))
        indices, contents, vectors = _embed_files(embedder, indices, contents, scan, skipped)
        if indices:
            chunks.append(vectors)
            kept += indices
            if thumbnail_size:
                thumbs.append(np.stack([_file_thumbnail(data, embedder.input_shape[-1],
                                                        thumbnail_size) for data in contents]))
        if bar is not None:
            bar.update(min(start + batch_size, len(scan.files)))
    if skipped:
        total = len(kept) + len(skipped)
        named = ", ".join(f"{file} ({why})" for file, why in skipped[:_WARN_NAMES])
        more = f" and {len(skipped) - _WARN_NAMES} more" if len(skipped) > _WARN_NAMES else ""
        warnings.warn(f"embed: skipped {len(skipped)} of {total} files in {folder} (not "
                      f"readable images, or refused by the export): {named}{more}. "
                      "`result.skipped` lists them all.", stacklevel=2)
    if not kept:
        raise ValueError(f"no image of {folder} could be embedded ({len(skipped)} skipped, e.g. "
                         f"{skipped[0][0]}: {skipped[0][1]}).")
    return Embeddings(
        embeddings=np.concatenate(chunks).astype(np.float32),
        names=[os.path.relpath(scan.files[i], folder) for i in kept],
        labels=None if scan.labels is None else np.array([scan.labels[i] for i in kept],
                                                         np.int64),
        class_names=list(scan.class_names), source=os.fspath(folder), skipped=skipped,
        thumbnails=np.concatenate(thumbs) if thumbnail_size else None)


def _embed_files(embedder, indices, contents, scan, skipped):
    """``(indices, contents, embeddings)`` of the files the export accepts: a
    batch it refuses is sent again one file at a time, the refused ones skipped."""
    import tensorflow as tf

    if not indices:
        return [], [], None
    try:
        return indices, contents, embedder.from_bytes(contents)
    except tf.errors.InvalidArgumentError:
        pass
    good = [], [], []
    for index, data in zip(indices, contents):
        try:
            vector = embedder.from_bytes([data])
        except tf.errors.InvalidArgumentError as error:
            skipped.append((scan.files[index], _refusal(error)))
            continue
        for part, value in zip(good, (index, data, vector)):
            part.append(value)
    return good[0], good[1], (np.concatenate(good[2]) if good[2] else None)


def embed_arrays(model, images, labels=None, class_names=(), names=None, source="arrays",
                 batch_size=BATCH_SIZE, thumbnail_size=None, progress=None):
    """Embeds uint8 images through the export's ``serve_uint8``.

    ``images`` is an array ``[N, h, w, c]`` or any iterable of uint8 images
    ``[h, w, c]`` (their sizes may differ: a batch holds images of one size),
    ``labels`` their int labels or None.  Names default to the indices.

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive.embed import embed_arrays
    >>> encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                             keras.layers.Dense(3)])
    >>> result = embed_arrays(encoder, np.zeros((5, 8, 8, 1), np.uint8), labels=[0, 1, 0, 1, 1])
    >>> result.embeddings.shape, result.names[:2], result.labels.tolist()
    ((5, 3), ['0', '1'], [0, 1, 0, 1, 1])
    """
    embedder = open_embedder(model)
    total = len(images) if hasattr(images, "__len__") else 0
    bar = _progress(total, progress) if total else None
    chunks, thumbs, batch, done = [], [], [], 0

    def flush():
        nonlocal done
        chunks.append(embedder.from_uint8(np.stack(batch)))
        if thumbnail_size:
            thumbs.append(_thumbnails(np.stack(batch) / 255.0, thumbnail_size))
        done += len(batch)
        batch.clear()
        if bar is not None:
            bar.update(done)

    for image in images:
        image = np.asarray(image, np.uint8)
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            flush()
        batch.append(image)
    if not batch and not chunks:
        raise ValueError(f"{source}: no images to embed.")
    flush()
    labels = None if labels is None else np.asarray(labels, np.int64)
    return Embeddings(np.concatenate(chunks).astype(np.float32),
                      list(names) if names is not None else [str(i) for i in range(done)],
                      labels, list(class_names), source,
                      thumbnails=np.concatenate(thumbs) if thumbnail_size else None)


def embed_tfds(model, name, split="train", limit=None, **options):
    """Embeds a TFDS split (prepared in TFDS' data folder) through
    ``serve_uint8``; names are the images' indices in the split, labels and
    class names come from its ``label`` feature where it has one.  ``options``:
    :func:`embed_arrays`'.

    Example (needs the data set prepared: ``tfds build cifar10``):

    >>> from keras_contrastive.embed import embed_tfds
    >>> result = embed_tfds("saved_models/simclr", "cifar10", "test", 1000)  # doctest: +SKIP
    """
    import tensorflow_datasets as tfds

    from keras_contrastive.data import from_tfds

    part = split if limit is None else f"{split}[:{int(limit)}]"
    try:
        dataset = from_tfds(name, split=part)
        with_labels = True
    except ValueError as error:
        if "label" not in str(error):
            raise
        dataset, with_labels = from_tfds(name, split=part, with_labels=False), False
    images, labels = [], []
    for item in dataset.as_numpy_iterator():
        images.append(item[0] if with_labels else item)
        labels.append(item[1] if with_labels else 0)
    class_names = []
    if with_labels:
        try:
            class_names = list(tfds.builder(name).info.features["label"].names)
        except (AttributeError, KeyError, TypeError, ValueError):
            class_names = []
    return embed_arrays(model, images, labels if with_labels else None, class_names,
                        source=f"{name}:{split}", **options)


def embed(model, data, split=None, limit=None, neighbours=None, **options):
    """Embeds ``data``: an image folder (:func:`embed_folder`; ``split``
    picks its sub-folder ``data/split``), a name of ``data.NAMED_ARRAYS`` or a
    TFDS name (``split``, default ``"train"``; the first ``limit`` images).
    With ``neighbours=K`` each image's K nearest neighbours are added.
    ``options`` go to the embedding function (``batch_size``,
    ``thumbnail_size``, ``progress``).

    Example (the module's example embeds a folder):

    >>> import keras
    >>> from keras_contrastive.embed import embed
    >>> encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
    ...                             keras.layers.Dense(3)])
    >>> result = embed(encoder, "fashion_mnist", split="test", limit=6, neighbours=2)
    >>> result.names, result.labels.tolist(), result.neighbours.shape
    (['0', '1', '2', '3', '4', '5'], [9, 2, 1, 1, 6, 1], (6, 2))
    """
    from keras_contrastive import data as kc_data

    if os.path.isdir(data):
        folder = os.path.join(data, split) if split else data
        if not os.path.isdir(folder):
            raise NotADirectoryError(f"{data} has no {split}/ folder.")
        if limit is not None:
            raise ValueError("--limit applies to TFDS and named data sets; give a smaller "
                             "folder instead.")
        result = embed_folder(model, folder, **options)
    elif data in kc_data.NAMED_ARRAYS:
        images, labels = kc_data.load_named_arrays(data, split or "train")
        result = embed_arrays(model, images[:limit], labels[:limit], source=data, **options)
    elif os.path.exists(data):
        raise NotADirectoryError(f"{data!r} is a file; give a folder of images (or a data set "
                                 "name).")
    elif data.startswith((".", "~")) or os.sep in data:
        raise FileNotFoundError(f"no such folder: {data!r}.")
    else:
        result = embed_tfds(model, data, split or "train", limit, **options)
    if neighbours:
        result.add_neighbours(neighbours)
    return result


def neighbour_method(count, method="auto"):
    """``"exact"`` or ``"faiss"``: what :func:`nearest_neighbours` uses for
    ``count`` images (``"auto"``: faiss from :data:`FAISS_MIN_IMAGES` when installed).

    >>> from keras_contrastive.embed import neighbour_method
    >>> neighbour_method(100)
    'exact'
    """
    if method not in ("auto", "exact", "faiss"):
        raise ValueError(f"`method` must be 'auto', 'exact' or 'faiss'; got {method!r}.")
    if method == "auto":
        if count < FAISS_MIN_IMAGES:
            return "exact"
        try:
            import faiss  # noqa: F401
        except ImportError:
            return "exact"
        return "faiss"
    return method


def _unit(embeddings):
    vectors = np.asarray(embeddings, np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be [N, D]; got shape {vectors.shape}.")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)  # a zero vector: similarity 0 to all


def nearest_neighbours(embeddings, k, method="auto", queries=None, block_bytes=EXACT_BLOCK_BYTES):
    """Each image's ``k`` nearest neighbours by cosine similarity, itself excluded.

    ``"exact"`` compares every pair in NumPy, a block of query rows at a time
    (``block_bytes`` of similarities), so memory stays bounded; ties go to
    the lower index.  ``"faiss"`` uses faiss' exact inner-product index
    (``IndexFlatIP``, ``pip install faiss-cpu``), much faster on many images;
    ``"auto"`` picks it from :data:`FAISS_MIN_IMAGES` images when installed.

    Args:
        embeddings: ``[N, D]``.
        k: neighbours per image, ``1 <= k < N``.
        method: ``"auto"``, ``"exact"`` or ``"faiss"``.
        queries: indices of the images whose neighbours are wanted (default all).
        block_bytes: the exact search's memory for similarities.

    Returns:
        ``(indices, similarities)``: int64 and float32 ``[Q, k]``, most similar first.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.embed import nearest_neighbours
    >>> points = np.array([[1, 0], [1, 0.1], [0, 1], [-1, 0]], np.float32)
    >>> indices, similarities = nearest_neighbours(points, 2)
    >>> indices.tolist()
    [[1, 2], [0, 2], [1, 0], [2, 1]]
    """
    vectors = _unit(embeddings)
    count = len(vectors)
    if not (isinstance(k, (int, np.integer)) and 1 <= k < count):
        raise ValueError(f"k (--neighbours) must be an integer from 1 to {count - 1} (one fewer "
                         f"than the {count} images); got {k!r}.")
    rows = np.arange(count) if queries is None else np.asarray(queries, np.int64)
    if neighbour_method(count, method) == "faiss":
        return _faiss_neighbours(vectors, rows, k)
    block = max(1, int(block_bytes) // (4 * count))
    indices = np.empty((len(rows), k), np.int64)
    similarities = np.empty((len(rows), k), np.float32)
    for start in range(0, len(rows), block):
        query = rows[start:start + block]
        scores = np.clip(vectors[query] @ vectors.T, -1.0, 1.0)
        scores[np.arange(len(query)), query] = -np.inf  # not its own neighbour
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, 1)
        order = np.lexsort((top, -top_scores), axis=1)  # most similar, then lower index
        indices[start:start + block] = np.take_along_axis(top, order, 1)
        similarities[start:start + block] = np.take_along_axis(top_scores, order, 1)
    return indices, similarities


def _faiss_neighbours(vectors, rows, k):
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors))
    scores, found = index.search(np.ascontiguousarray(vectors[rows]), k + 1)
    keep = found != rows[:, None]
    keep[keep.all(axis=1), -1] = False  # itself not among the k + 1 (ties): drop the last
    return (found[keep].reshape(len(rows), k).astype(np.int64),
            scores[keep].reshape(len(rows), k).astype(np.float32))


def save_embeddings(result, path):
    """Writes :class:`Embeddings` to ``path``, by its suffix:

    - ``.npz``: arrays ``names``, ``embeddings``, ``class_names``, ``source``
      and, when known, ``labels``, ``neighbours``, ``similarities``;
    - ``.csv``: one row per image: ``name``, ``label``, ``class``,
      ``e0 ... e{D-1}``, then ``neighbour_1 ...`` (names) and ``similarity_1 ...``;
    - ``.parquet`` (needs pyarrow): columns ``name``, ``label``, ``class``,
      ``embedding`` (a list of D floats), ``neighbours`` (names),
      ``similarities``.

    Returns ``path``.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.embed import Embeddings, load_embeddings, save_embeddings
    >>> result = Embeddings(np.eye(2, dtype="float32"), ["a.png", "b.png"])
    >>> path = save_embeddings(result, os.path.join(tempfile.mkdtemp(), "e.npz"))
    >>> load_embeddings(path).names
    ['a.png', 'b.png']
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(f"--out must end in {', '.join(_FORMATS)}; got {path!r}.")
    if suffix == ".parquet":
        try:
            import pyarrow
            import pyarrow.parquet
        except ImportError:
            raise ValueError(f"writing {path} needs pyarrow (pip install pyarrow); or write "
                             ".npz or .csv.") from None
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    classes = result.label_names()
    labels = [""] * len(result.names) if result.labels is None else result.labels.tolist()
    neighbour_names = None if result.neighbours is None else \
        np.asarray(result.names, dtype=object)[result.neighbours]
    if suffix == ".npz":
        arrays = {"names": np.array(result.names, dtype=str), "embeddings": result.embeddings,
                  "class_names": np.array(result.class_names, dtype=str),
                  "source": np.array(result.source)}
        for key in ("labels", "neighbours", "similarities"):
            if getattr(result, key) is not None:
                arrays[key] = getattr(result, key)
        np.savez(path, **arrays)
    elif suffix == ".csv":
        width = result.embeddings.shape[1]
        k = 0 if result.neighbours is None else result.neighbours.shape[1]
        with open(path, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["name", "label", "class"] + [f"e{i}" for i in range(width)]
                            + [f"neighbour_{i + 1}" for i in range(k)]
                            + [f"similarity_{i + 1}" for i in range(k)])
            for row in range(len(result.names)):
                extra = [] if not k else list(neighbour_names[row]) + [
                    repr(float(s)) for s in result.similarities[row]]
                writer.writerow([result.names[row], labels[row], classes[row]]
                                + [repr(float(v)) for v in result.embeddings[row]] + extra)
    else:
        columns = {"name": result.names, "label": labels if result.labels is not None
                   else [None] * len(labels), "class": classes,
                   "embedding": result.embeddings.tolist()}
        if result.neighbours is not None:
            columns["neighbours"] = neighbour_names.tolist()
            columns["similarities"] = result.similarities.tolist()
        pyarrow.parquet.write_table(pyarrow.table(columns), path)
    return path


def load_embeddings(path):
    """:class:`Embeddings` from a ``.npz`` written by :func:`save_embeddings`.

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.embed import Embeddings, load_embeddings, save_embeddings
    >>> path = os.path.join(tempfile.mkdtemp(), "e.npz")
    >>> _ = save_embeddings(Embeddings(np.ones((2, 3), "float32"), ["0", "1"], np.array([1, 0]),
    ...                                ["cat", "dog"], "toy"), path)
    >>> back = load_embeddings(path)
    >>> back.label_names(), back.embeddings.shape, back.source
    (['dog', 'cat'], (2, 3), 'toy')
    """
    with np.load(path) as stored:
        return Embeddings(
            embeddings=stored["embeddings"], names=stored["names"].tolist(),
            labels=stored["labels"] if "labels" in stored else None,
            class_names=stored["class_names"].tolist(), source=str(stored["source"]),
            neighbours=stored["neighbours"] if "neighbours" in stored else None,
            similarities=stored["similarities"] if "similarities" in stored else None)
