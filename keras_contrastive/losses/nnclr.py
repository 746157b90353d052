"""NNCLR's loss: NT-Xent with each anchor replaced by its nearest neighbour in a support set."""
import tensorflow as tf

from keras_contrastive._checks import check_temperature
from keras_contrastive._numerics import xla_core
from keras_contrastive.losses.info_nce import batch_info_nce


def nearest_neighbours(embeddings, support):
    """Row of ``support`` with the highest cosine similarity to each embedding (no gradient).

    The l2-normalised row is returned; the search runs in an XLA-compiled function.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses.nnclr import nearest_neighbours
    >>> support = np.eye(3, dtype="float32")
    >>> nearest_neighbours(np.array([[0.1, 2.0, 0.3]], "float32"), support).numpy().tolist()
    [[0.0, 1.0, 0.0]]
    """
    z = tf.stop_gradient(tf.convert_to_tensor(embeddings))
    return _nearest_neighbours(z, tf.stop_gradient(tf.cast(support, z.dtype)))


@xla_core
def _nearest_neighbours(z, support):
    z = tf.math.l2_normalize(z, axis=1)
    support = tf.math.l2_normalize(support, axis=1)
    return tf.gather(support, tf.argmax(tf.matmul(z, support, transpose_b=True), axis=1))


def nnclr_loss(z_a, z_b, support, temperature=0.1, p_a=None, p_b=None):
    """NNCLR (Dwibedi et al. 2021, eq. 2), symmetrised over the two views.

    For example ``i`` with view embeddings ``z_i`` and ``z_i^+``:

        l_i = -log( exp(NN(z_i) . p_i^+ / T) / sum_k exp(NN(z_i) . p_k^+ / T) )

    where ``NN(z_i)`` is ``z_i``'s nearest neighbour (cosine) in ``support``,
    ``p^+`` is the prediction head's output for view 2 (``z^+`` itself
    without a predictor, the equation as printed) and ``k`` runs over the
    **global** batch; the loss is ``0.5 * (mean_i l_i + mean_i l_i')`` with
    the views' roles swapped.  Gradients flow through the positives and
    negatives, not the neighbours.

    Args:
        z_a, z_b: ``[n, d]`` projections of the two views (this replica's
            rows); their neighbours are looked up in ``support``.
        support: ``[Q, d]`` support set.
        temperature: ``T > 0``.
        p_a, p_b: optional ``[n, d]`` predictions of the two views, used as
            positives and negatives in place of ``z_a``, ``z_b``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.losses.nnclr import nnclr_loss
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(4, 8)).astype("float32")
    >>> float(nnclr_loss(z, z, support=z)) < float(nnclr_loss(z, z[::-1], support=z))
    True
    """
    check_temperature(temperature)
    p_a = z_a if p_a is None else p_a
    p_b = z_b if p_b is None else p_b
    return 0.5 * (batch_info_nce(nearest_neighbours(z_a, support), p_b, temperature)
                  + batch_info_nce(nearest_neighbours(z_b, support), p_a, temperature))
