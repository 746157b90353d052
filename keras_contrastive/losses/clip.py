"""CLIP's symmetric InfoNCE between paired image and text embeddings (Radford et al. 2021)."""
import math

import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive._numerics import at_least_float32, xla_core

#: CLIP clips its learnt logit scale at 100 (the temperature at 0.01)
MAX_LOGIT_SCALE = 100.0


@xla_core
def _clip_terms(images, texts, all_images, all_texts, offset, log_scale):
    """``[2n]`` terms: this replica's images against every text of the global batch,
    then its texts against every image (row ``offset + i`` the positive)."""
    scale = tf.exp(tf.minimum(log_scale, math.log(MAX_LOGIT_SCALE)))
    n = tf.shape(images)[0]
    positive = tf.one_hot(tf.range(n) + offset, tf.shape(all_texts)[0], dtype=images.dtype)
    image_logits = scale * tf.matmul(images, all_texts, transpose_b=True)
    text_logits = scale * tf.matmul(texts, all_images, transpose_b=True)
    image_terms = tf.reduce_logsumexp(image_logits, 1) - tf.reduce_sum(image_logits * positive, 1)
    text_terms = tf.reduce_logsumexp(text_logits, 1) - tf.reduce_sum(text_logits * positive, 1)
    return tf.concat([image_terms, text_terms], axis=0)


def clip_loss(image_embeddings, text_embeddings, log_logit_scale):
    """CLIP's symmetric cross-entropy over the global batch (Radford et al. 2021, Fig. 3).

    Both embeddings are l2-normalised; ``logits = exp(t) * I @ T^T`` with the
    learnt log-scale ``t`` clipped at ``log(100)`` (CLIP's clip: temperature
    ``>= 0.01``; no gradient reaches ``t`` beyond it); image ``i``'s positive
    is text ``i`` and text ``i``'s is image ``i``:

        loss = (CE(logits, rows) + CE(logits^T, rows)) / 2

    each cross-entropy the mean over the global batch's ``N`` pairs.  Under
    a ``tf.distribute`` strategy each replica gathers both towers' embeddings
    of every replica (differentiably) and returns the mean over its own
    ``n`` images and ``n`` texts; the mean over replicas is the global loss
    (as :func:`nt_xent`).  Log-sum-exp in at least float32, XLA-compiled.

    Args:
        image_embeddings: ``[n, d]`` this replica's image projections.
        text_embeddings: ``[n, d]`` the paired texts' projections, row-aligned.
        log_logit_scale: the scalar ``t`` (CLIP initialises it to ``log(1 / 0.07)``).

    Returns:
        A scalar (float32, or float64 for float64 inputs).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses import clip_loss
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(clip_loss(z, z, np.log(1 / 0.07))) < float(clip_loss(z, z[::-1], np.log(1 / 0.07)))
    True
    """
    images = tf.math.l2_normalize(at_least_float32(image_embeddings), axis=1)
    texts = tf.math.l2_normalize(tf.cast(text_embeddings, images.dtype), axis=1)
    all_images = distribute.all_gather(images)
    all_texts = distribute.all_gather(texts)
    offset = distribute.global_offset(tf.shape(images)[0])
    log_scale = tf.cast(log_logit_scale, images.dtype)
    return tf.reduce_mean(_clip_terms(images, texts, all_images, all_texts, offset, log_scale))
