"""Pictures of :class:`keras_contrastive.embed.Embeddings`: a 2-D map coloured
by label (UMAP where umap-learn is installed, else PCA), a nearest-neighbour
grid, and the files of TensorBoard's embedding projector.

Example (each function's docstring holds a runnable one)::

    from keras_contrastive.embed import embed
    from keras_contrastive.embedding_plots import plot_map, plot_neighbour_grid, write_projector

    result = embed("saved_models/simclr", "my_photos/", neighbours=5, thumbnail_size=48)
    plot_map(result, "map.png")                    # "UMAP" or "PCA"
    plot_neighbour_grid(result, "neighbours.png")  # 8 queries, their 5 neighbours
    write_projector(result, "logs/projector")      # tensorboard --logdir logs/projector
"""
import math
import os

import numpy as np

from keras_contrastive import plotting

__all__ = ["PROJECTOR_CONFIG", "SPRITE_MAX", "plot_map", "plot_neighbour_grid", "project_2d",
           "write_projector"]

#: The file TensorBoard's projector plugin reads in a log folder.
PROJECTOR_CONFIG = "projector_config.pbtxt"
#: The projector's largest sprite (pixels a side).
SPRITE_MAX = 8192
_LEGEND_MAX = 20  # classes named in the map's legend


def project_2d(embeddings, method="auto", seed=0):
    """``(xy, name)``: ``[N, 2]`` coordinates of the embeddings and the method
    used, ``"UMAP"`` (umap-learn, cosine metric) or ``"PCA"`` (the two
    principal axes of the centred embeddings).  ``"auto"``: UMAP when
    umap-learn is installed and there are more than 15 images, else PCA.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.embedding_plots import project_2d
    >>> xy, name = project_2d(np.random.default_rng(0).normal(size=(10, 5)), "pca")
    >>> xy.shape, name
    ((10, 2), 'PCA')
    """
    vectors = np.asarray(embeddings, np.float64)
    method = method.lower()
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"`method` must be 'auto', 'umap' or 'pca'; got {method!r}.")
    if method in ("auto", "umap") and len(vectors) > 15:
        try:
            import umap
        except ImportError:
            if method == "umap":
                raise ValueError("method='umap' needs umap-learn (pip install umap-learn).") \
                    from None
        else:
            reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed)
            return np.asarray(reducer.fit_transform(vectors), np.float32), "UMAP"
    centred = vectors - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ axes[:2].T
    if xy.shape[1] < 2:  # one-dimensional embeddings
        xy = np.concatenate([xy, np.zeros((len(xy), 2 - xy.shape[1]))], axis=1)
    return xy.astype(np.float32), "PCA"


def plot_map(result, path, method="auto", seed=0):
    """Draws the embeddings' 2-D map (:func:`project_2d`), one colour per
    class (named in the legend up to 20 classes), and writes ``path`` (PNG).
    The title names the method.  Returns the method's name.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.embed import Embeddings
    >>> from keras_contrastive.embedding_plots import plot_map
    >>> points = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
    >>> result = Embeddings(points, [str(i) for i in range(12)], np.arange(12) % 3,
    ...                     ["a", "b", "c"], "toy")
    >>> plot_map(result, os.path.join(tempfile.mkdtemp(), "map.png"), method="pca")
    'PCA'
    """
    xy, name = project_2d(result.embeddings, method, seed)
    fig, axes = plotting.figure(1, 1, figsize=(6.5, 6))
    axis = axes[0, 0]
    if result.labels is None:
        axis.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.7)
    else:
        classes = result.class_names or [str(c) for c in range(int(result.labels.max()) + 1)]
        colours = _colours(len(classes))
        for label in np.unique(result.labels):
            chosen = result.labels == label
            axis.scatter(xy[chosen, 0], xy[chosen, 1], s=8, alpha=0.7,
                         color=colours[int(label)], label=classes[int(label)])
        if len(classes) <= _LEGEND_MAX:
            axis.legend(markerscale=2, fontsize=7, loc="best")
    axis.set_title(f"{len(xy)} embeddings of {result.source or 'the images'} ({name})",
                   fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])
    plotting.save(fig, path)
    return name


def _colours(count):
    import matplotlib

    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def _query_indices(count, queries):
    """``queries`` images spread evenly over the ``count`` (a folder's classes follow one another)."""
    return np.unique(np.linspace(0, count - 1, min(queries, count)).round().astype(np.int64))


def plot_neighbour_grid(result, path, queries=8, k=5):
    """A grid PNG: ``queries`` images spread over the data in the first column
    (their class and name under them), each row continued by their ``k``
    nearest neighbours (class and cosine similarity above each).  Needs
    ``result.thumbnails`` (``embed(..., thumbnail_size=t)``); uses
    ``result.neighbours`` when it holds ``k`` or more, else searches for the
    queries' neighbours.  Returns the query indices.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.embed import Embeddings
    >>> from keras_contrastive.embedding_plots import plot_neighbour_grid
    >>> rng = np.random.default_rng(0)
    >>> result = Embeddings(rng.normal(size=(6, 4)).astype("float32"), list("abcdef"),
    ...                     thumbnails=rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8))
    >>> plot_neighbour_grid(result, os.path.join(tempfile.mkdtemp(), "grid.png"), 3, 2).tolist()
    [0, 2, 5]
    """
    from keras_contrastive.embed import nearest_neighbours

    if result.thumbnails is None:
        raise ValueError("the neighbour grid needs the images' thumbnails: embed with "
                         "thumbnail_size=... (the CLI does with --grid).")
    rows = _query_indices(len(result.names), queries)
    if result.neighbours is not None and result.neighbours.shape[1] >= k:
        found, similarities = result.neighbours[rows, :k], result.similarities[rows, :k]
    else:
        found, similarities = nearest_neighbours(result.embeddings, k, queries=rows)
    classes = result.label_names()
    fig, axes = plotting.figure(len(rows), k + 1, figsize=(1.3 * (k + 1), 1.45 * len(rows)))
    for row, query in enumerate(rows):
        plotting.show_image(axes[row, 0], result.thumbnails[query], ticks=True)
        name = result.names[query]  # a folder's names start with their class folder
        caption = name if name.startswith(f"{classes[query]}/") else f"{classes[query]} {name}"
        axes[row, 0].set_xlabel(_short(caption.strip()), fontsize=6)
        for column in range(k):
            neighbour = found[row, column]
            axis = axes[row, column + 1]
            plotting.show_image(axis, result.thumbnails[neighbour], ticks=True)
            same = result.labels is not None and result.labels[neighbour] == result.labels[query]
            axis.set_title(f"{classes[neighbour]} {similarities[row, column]:.2f}".strip(),
                           fontsize=6, color="green" if same else "black")
    axes[0, 0].set_title("query", fontsize=7)
    plotting.save(fig, path)
    return rows


def _short(text, width=22):
    return text if len(text) <= width else "..." + text[-(width - 3):]


def _sprite(thumbnails):
    """``(sprite, size)``: the thumbnails row by row in a square of
    ``ceil(sqrt(N))`` a side, each shrunk to ``size`` pixels so the sprite
    stays within :data:`SPRITE_MAX`."""
    import tensorflow as tf

    count, size = len(thumbnails), thumbnails.shape[1]
    side = math.ceil(math.sqrt(count))
    size = min(size, SPRITE_MAX // side)
    if size < 1:
        raise ValueError(f"{count} images do not fit in the projector's {SPRITE_MAX}-pixel "
                         "sprite; embed fewer images.")
    if size != thumbnails.shape[1]:
        thumbnails = tf.cast(tf.round(tf.image.resize(thumbnails, (size, size), antialias=True)),
                             tf.uint8).numpy()
    sprite = np.zeros((side * size, side * size, 3), np.uint8)
    for index, picture in enumerate(thumbnails):
        row, column = divmod(index, side)
        sprite[row * size:(row + 1) * size, column * size:(column + 1) * size] = picture
    return sprite, size


def write_projector(result, logdir, tensor_name="embedding"):
    """Writes the files of TensorBoard's embedding projector into ``logdir``:
    ``embeddings.tsv`` (the vectors, one tab-separated row per image),
    ``metadata.tsv`` (a header, then each image's name and class),
    ``sprite.png`` (the thumbnails, when ``result.thumbnails`` is set) and
    ``projector_config.pbtxt`` naming them (paths relative to ``logdir``, as
    the plugin resolves them).  ``tensorboard --logdir LOGDIR`` then shows
    them under "Projector".  Returns the config file's path.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from keras_contrastive.embed import Embeddings
    >>> from keras_contrastive.embedding_plots import write_projector
    >>> result = Embeddings(np.eye(3, dtype="float32"), ["a", "b", "c"])
    >>> logdir = tempfile.mkdtemp()
    >>> _ = write_projector(result, logdir)
    >>> sorted(os.listdir(logdir))
    ['embeddings.tsv', 'metadata.tsv', 'projector_config.pbtxt']
    """
    from google.protobuf import text_format
    from PIL import Image
    from tensorboard.plugins.projector import projector_config_pb2

    os.makedirs(logdir, exist_ok=True)
    np.savetxt(os.path.join(logdir, "embeddings.tsv"), result.embeddings, delimiter="\t",
               fmt="%.8g")
    classes = result.label_names()
    with open(os.path.join(logdir, "metadata.tsv"), "w") as stream:
        stream.write("name\tclass\n")  # two columns: the projector wants a header row
        for name, label in zip(result.names, classes):
            stream.write(f"{_tsv(name)}\t{_tsv(label)}\n")
    config = projector_config_pb2.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = tensor_name
    embedding.tensor_path = "embeddings.tsv"
    embedding.tensor_shape.extend(result.embeddings.shape)
    embedding.metadata_path = "metadata.tsv"
    if result.thumbnails is not None:
        sprite, size = _sprite(result.thumbnails)
        Image.fromarray(sprite).save(os.path.join(logdir, "sprite.png"))
        embedding.sprite.image_path = "sprite.png"
        embedding.sprite.single_image_dim.extend([size, size])
    path = os.path.join(logdir, PROJECTOR_CONFIG)
    with open(path, "w") as stream:
        stream.write(text_format.MessageToString(config))
    return path


def _tsv(text):
    return str(text).replace("\t", " ").replace("\n", " ")
