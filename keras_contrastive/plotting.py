"""The matplotlib plumbing every picture of the library shares: a headless
(Agg) figure, one way to draw an image, and save-then-close.

Example:

>>> import os, tempfile, numpy as np
>>> from keras_contrastive import plotting
>>> fig, axes = plotting.figure(1, 2, figsize=(3, 1.5))
>>> plotting.show_image(axes[0, 0], np.zeros((8, 8, 1), np.uint8))
>>> plotting.show_image(axes[0, 1], np.ones((8, 8, 3), np.float32))
>>> path = plotting.save(fig, os.path.join(tempfile.mkdtemp(), "p.png"))
>>> open(path, "rb").read(4)
b'\\x89PNG'
"""
import numpy as np


def figure(rows=1, columns=1, **kwargs):
    """``(fig, axes)`` of ``plt.subplots`` on the headless Agg backend
    (``axes`` always 2-D)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, columns, squeeze=False, **kwargs)


def grid(n, columns):
    """``(columns, rows)`` of a grid holding ``n`` pictures ``columns`` wide."""
    columns = max(1, min(columns, n))
    return columns, int(np.ceil(n / columns))


def show_image(axis, image, ticks=False):
    """Draws ``image`` (``[H, W, 1|3]``; uint8 or float in [0, 1]) on ``axis``:
    grey for one channel, RGB for three, clipped to [0, 1]."""
    image = np.asarray(image)
    # uint8 (or 0-255 floats) -> [0, 1]; floats a little outside [0, 1] (colour jitter)
    # are clipped, not rescaled
    scale = 255.0 if np.issubdtype(image.dtype, np.integer) or image.max() > 2.0 else 1.0
    image = np.clip(image.astype(np.float32) / scale, 0.0, 1.0)
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        axis.imshow(image)
    if ticks:
        axis.set_xticks([])
        axis.set_yticks([])
    else:
        axis.axis("off")


def save(fig, path, dpi=120):
    """Lays out, writes ``path`` and closes ``fig``; returns ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
