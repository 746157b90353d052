"""Patch masks as a view strategy: random (MAE) and blockwise (BEiT) masks beside the views."""
import keras
import tensorflow as tf

from keras_contrastive._checks import check_number, is_int

MASK_MODES = ("random", "block")


def masked_count(num_patches, mask_ratio):
    """Patches a mask of ``mask_ratio`` hides: ``N - int(N * (1 - ratio))``, as MAE
    keeps ``int(N * (1 - ratio))`` visible.

    >>> from keras_contrastive.views.masking import masked_count
    >>> masked_count(49, 0.75), masked_count(196, 0.75)
    (37, 147)
    """
    return num_patches - int(num_patches * (1 - mask_ratio))


def random_masks(noise, count):
    """Boolean masks ``[B, N]`` hiding, in each row, the ``count`` patches of
    largest ``noise`` (``[B, N]`` uniform: a random subset of exactly ``count``).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.masking import random_masks
    >>> random_masks(np.array([[0.1, 0.9, 0.5, 0.3]]), 2).numpy().tolist()
    [[False, True, True, False]]
    """
    noise = tf.convert_to_tensor(noise)
    ranks = tf.argsort(tf.argsort(noise, axis=1), axis=1)
    return ranks >= tf.shape(noise)[1] - count


def block_masks(batch, grid, count, seed_generator, min_patches=4, aspect=(0.3, 1 / 0.3),
                attempts=32):
    """BEiT's blockwise masks (Bao et al. 2022, Algorithm 1), vectorised over the
    batch: rectangles of ``min_patches`` to the patches still to hide, aspect
    ratio log-uniform in ``aspect``, placed uniformly, each added when it hides
    new patches without passing ``count``; ``attempts`` draws per image (BEiT:
    until no block fits).  A mask the blocks leave short of ``count`` is
    topped up with random patches, so every mask hides exactly ``count`` of
    the ``grid x grid`` patches (MAE's encoder keeps a fixed number).

    Returns boolean masks ``[batch, grid * grid]`` (row-major, True: hidden).

    Example:

    >>> import keras
    >>> from keras_contrastive.views.masking import block_masks
    >>> masks = block_masks(3, 7, 20, keras.random.SeedGenerator(0))
    >>> masks.shape, masks.numpy().sum(axis=1).tolist()
    (TensorShape([3, 49]), [20, 20, 20])
    """
    rows = tf.range(grid)[None, :, None]
    cols = tf.range(grid)[None, None, :]
    low, high = tf.math.log(float(aspect[0])), tf.math.log(float(aspect[1]))

    def draw(mask, u):
        hidden = tf.reduce_sum(tf.cast(mask, tf.int32), axis=[1, 2])
        left_to_hide = tf.cast(count - hidden, tf.float32)
        area = min_patches + u[:, 0] * tf.maximum(left_to_hide - min_patches, 0.0)
        ratio = tf.exp(low + u[:, 1] * (high - low))
        h = tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32)
        w = tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32)
        fits = (h >= 1) & (w >= 1) & (h < grid) & (w < grid)
        top = tf.cast(u[:, 2] * tf.cast(grid - h + 1, tf.float32), tf.int32)
        left = tf.cast(u[:, 3] * tf.cast(grid - w + 1, tf.float32), tf.int32)
        block = ((rows >= top[:, None, None]) & (rows < (top + h)[:, None, None])
                 & (cols >= left[:, None, None]) & (cols < (left + w)[:, None, None]))
        new = tf.reduce_sum(tf.cast(block & ~mask, tf.int32), axis=[1, 2])
        take = fits & (new > 0) & (new <= count - hidden)
        return mask | (block & take[:, None, None])

    # every draw at once (one call of the seed generator), then a loop over them
    draws = keras.random.uniform([attempts, batch, 4], seed=seed_generator)
    mask = tf.foldl(draw, draws, initializer=tf.zeros([batch, grid, grid], tf.bool))
    mask = tf.reshape(mask, [batch, grid * grid])
    # the top-up: hidden patches rank first, then random ones
    noise = keras.random.uniform([batch, grid * grid], seed=seed_generator)
    return random_masks(noise + tf.cast(mask, noise.dtype), count)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class PatchMasking(keras.layers.Layer):
    """A view strategy that adds a boolean patch mask to each global view:
    ``{"global": (v1, v2, ...), "masks": (m1, m2, ...)}``, ``m_i`` ``[B, N]``
    (``N = grid * grid`` patches in row-major order, True: hidden).

    It composes with the others: ``augment`` is any augmentation (called
    ``num_views`` times) or view strategy returning a dict (e.g.
    ``MultiCrop``: its local views get no mask); ``None`` keeps the images as
    they are (MAE's views: the image, masked).  Each mask hides exactly
    ``masked_count(N, mask_ratio)`` patches: ``"random"`` a uniform subset
    (MAE), ``"block"`` BEiT's blockwise rectangles, topped up at random.  A
    masked method (``models.MAE``) reads ``views["masks"]``; without them it
    draws its own.

    Args:
        augment: ``None``, a callable ``[B, H, W, C] -> [B, h, w, C]`` or a view
            strategy returning a dict with ``"global"``.
        grid: patches per side of the global views (image size / patch size).
        mask_ratio: share of the patches hidden, in (0, 1) (0.75 in MAE,
            0.4 in BEiT).
        mode: ``"random"`` or ``"block"``.
        num_views: global views when ``augment`` returns a batch (>= 2).
        min_patches: the smallest block (``"block"``; BEiT: 16 of 196).
        seed: optional int, seed of the masks' random stream.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import views
    >>> masking = views.PatchMasking(views.simclr_augment(28, channels=1, seed=0), grid=7,
    ...                              mode="block", seed=0)
    >>> made = masking(np.zeros((4, 28, 28, 1), "float32"))
    >>> [m.shape for m in made["masks"]], made["masks"][0].numpy().sum(axis=1).tolist()
    ([TensorShape([4, 49]), TensorShape([4, 49])], [37, 37, 37, 37])
    """

    def __init__(self, augment=None, grid=7, mask_ratio=0.75, mode="random", num_views=2,
                 min_patches=4, seed=None, **kwargs):
        super().__init__(**kwargs)
        if augment is not None and not callable(augment):
            raise ValueError(f"`augment` must be None or callable, got augment={augment!r}.")
        if not is_int(grid) or grid < 2:
            raise ValueError(f"`grid` must be an integer >= 2, got grid={grid!r}.")
        mask_ratio = check_number("mask_ratio", mask_ratio, low=0, high=1, low_open=True,
                                  high_open=True)
        if mode not in MASK_MODES:
            raise ValueError(f"`mode` must be one of {MASK_MODES}, got mode={mode!r}.")
        if not is_int(num_views) or num_views < 2:
            raise ValueError(f"`num_views` must be an integer >= 2, got num_views={num_views!r}.")
        if not is_int(min_patches) or min_patches < 1:
            raise ValueError(f"`min_patches` must be an integer >= 1, got "
                             f"min_patches={min_patches!r}.")
        if seed is not None and not is_int(seed):
            raise ValueError(f"`seed` must be None or an integer, got seed={seed!r}.")
        self.augment, self.grid, self.mask_ratio, self.mode = augment, grid, mask_ratio, mode
        self.num_views, self.min_patches, self.seed = num_views, min_patches, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def channels(self):
        """The inner augmentation's channels where it declares them (``make_views`` checks)."""
        return getattr(self.augment, "channels", None)

    def _views(self, images):
        def call(augment):
            out = (augment(images, training=True) if isinstance(augment, keras.layers.Layer)
                   else augment(images))
            return tf.nest.map_structure(lambda v: tf.cast(v, tf.float32), out)

        if self.augment is None:
            return {"global": (tf.cast(images, tf.float32),) * self.num_views}
        first = call(self.augment)
        if isinstance(first, dict):
            return dict(first)
        return {"global": (first,) + tuple(call(self.augment)
                                           for _ in range(self.num_views - 1))}

    def mask(self, batch):
        """One batch of masks ``[batch, grid * grid]`` of this strategy's mode."""
        count = masked_count(self.grid * self.grid, self.mask_ratio)
        if self.mode == "block":
            return block_masks(batch, self.grid, count, self.seed_generator, self.min_patches)
        noise = keras.random.uniform([batch, self.grid * self.grid], seed=self.seed_generator)
        return random_masks(noise, count)

    def call(self, images, training=True):
        del training  # masks are random in evaluation too
        views = self._views(images)
        batch = tf.shape(views["global"][0])[0]
        views["masks"] = tuple(self.mask(batch) for _ in views["global"])
        return views

    def compute_output_spec(self, images, training=True):
        return self.call(images)

    def get_config(self):
        if self.augment is not None and not isinstance(self.augment, keras.layers.Layer):
            raise TypeError(f"PatchMasking: `augment` is a plain callable ({self.augment!r}); "
                            "only Keras layers can be saved.")
        return {**super().get_config(),
                "augment": (None if self.augment is None
                            else keras.saving.serialize_keras_object(self.augment)),
                "grid": self.grid, "mask_ratio": self.mask_ratio, "mode": self.mode,
                "num_views": self.num_views, "min_patches": self.min_patches,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("augment") is not None:
            config["augment"] = keras.saving.deserialize_keras_object(config["augment"])
        return cls(**config)


def _block_size(u_scale, u_aspect, grid, scale, aspect):
    """I-JEPA's ``_sample_block_size``: ``(h, w)`` of a block of ``int(N * s)``
    patches, ``s`` uniform in ``scale``, aspect ``h / w`` uniform in
    ``aspect``; each side at least 1 and below ``grid`` (as the paper's code)."""
    s = scale[0] + u_scale * (scale[1] - scale[0])
    keep = tf.floor(float(grid * grid) * s)
    ratio = aspect[0] + u_aspect * (aspect[1] - aspect[0])
    h = tf.cast(tf.round(tf.sqrt(keep * ratio)), tf.int32)
    w = tf.cast(tf.round(tf.sqrt(keep / ratio)), tf.int32)
    return tf.clip_by_value(h, 1, grid - 1), tf.clip_by_value(w, 1, grid - 1)


def _place_blocks(u_top, u_left, h, w, grid):
    """Boolean ``[..., grid * grid]`` rectangles ``h x w`` at uniform positions
    (``u_top``, ``u_left``: uniforms of any leading shape)."""
    top = tf.cast(u_top * tf.cast(grid - h + 1, tf.float32), tf.int32)[..., None, None]
    left = tf.cast(u_left * tf.cast(grid - w + 1, tf.float32), tf.int32)[..., None, None]
    rows = tf.range(grid)[:, None]
    cols = tf.range(grid)[None, :]
    block = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    return tf.reshape(block, tf.concat([tf.shape(u_top), [grid * grid]], 0))


def _first_ids(priority, count):
    """Per row, the ``count`` patch indices of lowest ``priority``, ties in
    row-major order, ascending."""
    patches = tf.shape(priority)[-1]
    key = priority * patches + tf.range(patches)
    return tf.sort(tf.argsort(key, axis=-1, stable=True)[..., :count], axis=-1)


def multiblock_masks(batch, grid, seed, num_targets=4, target_scale=(0.15, 0.2),
                     target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0), min_keep=4,
                     attempts=8):
    """I-JEPA's multi-block masks (Assran et al. 2023, Sec. 3; the official
    ``MaskCollator``), vectorised and stateless: ``num_targets`` target blocks
    and one context block per image, the targets removed from the context.

    As in the paper's collator, one target block size (scale uniform in
    ``target_scale``, aspect ``h / w`` uniform in ``target_aspect``) and one
    context block size (scale in ``context_scale``, square) are drawn for the
    whole batch; each image places its blocks uniformly.  The context is its
    block minus every target patch; of ``attempts`` context placements an
    image takes the first keeping at least ``min_keep`` patches (the paper
    retries until one does), else the one keeping most.  Every context is then
    cut to the batch's smallest, ``K`` patches, its first in row-major order
    (the paper's ``min_keep_enc`` truncation); an image whose context kept
    fewer (or none: ``K >= 1``) is topped up with non-target patches first.
    So every image has exactly ``K`` context patches and ``T = h * w``
    patches in each target block; no context patch is a target patch unless
    the targets cover all but fewer than ``K`` patches of an image.

    The draws come from ``tf.random.stateless_uniform`` keyed by ``seed`` (a
    shape ``[2]`` integer tensor): the same key gives the same masks, so a
    model drawing the global batch's masks on every replica and taking its
    rows trains as on one replica.

    Departure: blocks are placed anywhere in the grid (the official code's
    ``randint(0, grid - h)`` never reaches the last row and column).

    Args:
        batch: images (rows) to draw for.
        grid: patches per side (``N = grid * grid``).
        seed: the stateless key, ``[2]`` int32/int64.
        num_targets: ``M`` target blocks (4 in the paper).
        target_scale, target_aspect, context_scale: the paper's ranges.
        min_keep: context patches an image tries to keep (4 in the paper).
        attempts: context placements drawn per image.

    Returns:
        ``(context_ids, target_ids)``: int32 ``[batch, K]`` and
        ``[batch, M, T]``, patch indices (row-major) in ascending order.

    Example:

    >>> from keras_contrastive.views.masking import multiblock_masks
    >>> context, targets = multiblock_masks(3, 14, seed=[0, 1])
    >>> targets.shape[:2], context.shape[0]
    (TensorShape([3, 4]), 3)
    >>> import numpy as np
    >>> any(np.intersect1d(c, t).size for c, t in zip(context.numpy(), targets.numpy()))
    False
    """
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    sizes = tf.random.stateless_uniform([4], seed)
    target_h, target_w = _block_size(sizes[0], sizes[1], grid, target_scale, target_aspect)
    context_h, context_w = _block_size(sizes[2], sizes[3], grid, context_scale, (1.0, 1.0))
    key = tf.random.experimental.stateless_fold_in(seed, 1)
    u_targets = tf.random.stateless_uniform([2, batch, num_targets], key)
    targets = _place_blocks(u_targets[0], u_targets[1], target_h, target_w, grid)  # [B, M, N]
    key = tf.random.experimental.stateless_fold_in(seed, 2)
    u_context = tf.random.stateless_uniform([2, attempts, batch], key)
    covered = tf.reduce_any(targets, axis=1)  # [B, N]
    context = _place_blocks(u_context[0], u_context[1], context_h, context_w, grid)
    context = context & ~covered[None]  # [attempts, B, N]
    kept = tf.reduce_sum(tf.cast(context, tf.int32), axis=-1)  # [attempts, B]
    enough = kept >= min_keep
    choice = tf.where(tf.reduce_any(enough, axis=0), tf.argmax(tf.cast(enough, tf.int32), axis=0),
                      tf.argmax(kept, axis=0))
    context = tf.gather(tf.transpose(context, [1, 0, 2]), choice, batch_dims=1)  # [B, N]
    count = tf.maximum(tf.reduce_min(tf.gather(tf.transpose(kept), choice, batch_dims=1)), 1)
    priority = tf.where(context, 0, tf.where(covered, 2, 1))
    context_ids = _first_ids(priority, count)
    target_ids = _first_ids(tf.cast(~targets, tf.int32), target_h * target_w)
    return context_ids, target_ids
