"""Pictures of views: originals and their views side by side (matplotlib)."""
import numpy as np
import tensorflow as tf

from keras_contrastive import plotting
from keras_contrastive.data.arrays import to_unit_float
from keras_contrastive.views.pipeline import ViewMaker


def plot_views(dataset, strategy, n=8, path="views.png", num_views=2):
    """Writes a PNG grid: one row per image, the original first, then its views.

    Args:
        dataset: a ``tf.data.Dataset`` of images (or ``(image, label)``),
            or an array ``[N, H, W, C]``; the first ``n`` are drawn.
        strategy: what ``make_views`` takes as ``augment``: a view strategy
            returning ``{"global": ..., "local": ...}`` (e.g. ``MultiCrop``)
            or an augmentation called ``num_views`` times, or a ``ViewMaker``.
        n: images (rows).
        path: the PNG file to write.
        num_views: views per image for a plain augmentation.

    Returns:
        ``path``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views import MultiCrop, plot_views
    >>> images = np.random.randint(0, 256, (4, 28, 28, 1), dtype="uint8")
    >>> plot_views(images, MultiCrop(28, 12, num_local=2, channels=1, seed=0), n=4,
    ...            path="/tmp/views_example.png")
    '/tmp/views_example.png'
    """
    if isinstance(dataset, tf.data.Dataset):
        batch = next(iter(dataset.take(n).batch(n)))
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
    else:
        images = np.asarray(dataset)[:n]
    images = to_unit_float(tf.convert_to_tensor(images))
    # the views as make_views makes them (Keras layers called with training=True)
    maker = strategy if isinstance(strategy, ViewMaker) else ViewMaker(strategy, num_views)
    out = maker(images)
    columns = [("original", images)]
    for key in ("original", "global", "local"):
        views = out.get(key, ())
        views = views if isinstance(views, (tuple, list)) else (views,)
        columns += [(f"{key} {i + 1}", v) for i, v in enumerate(views)]
    rows = int(images.shape[0])
    fig, axes = plotting.figure(rows, len(columns),
                                figsize=(1.6 * len(columns), 1.6 * rows))
    for col, (title, batch) in enumerate(columns):
        batch = np.asarray(batch, np.float32)
        for row in range(rows):
            plotting.show_image(axes[row, col], batch[row], ticks=True)
            if row == 0:
                axes[row, col].set_title(f"{title}\n{batch.shape[1]}x{batch.shape[2]}",
                                         fontsize=8)
    return plotting.save(fig, path, dpi=100)
