"""Cross-replica helpers used by every objective.

Contrastive negatives and batch statistics are defined over the *global*
batch.  Under a ``tf.distribute`` strategy each replica holds a slice of that
batch; these helpers gather it once, in replica order, with a defined
gradient (``ReplicaContext.all_gather`` back-propagates the summed upstream
gradient of this replica's slice), so a loss written for one device is
correct for any number of replicas.

Example:

>>> import tensorflow as tf
>>> from keras_contrastive import distribute
>>> x = tf.ones([4, 8])
>>> distribute.all_gather(x).shape  # no strategy: the local batch is global
TensorShape([4, 8])
>>> distribute.num_replicas()
1
"""
import tensorflow as tf


def _replica_context():
    """The current replica context, or ``None`` in a cross-replica context."""
    return tf.distribute.get_replica_context()


def num_replicas():
    """Number of replicas whose batches form the global batch (1 without a strategy).

    Example:

    >>> from keras_contrastive import distribute
    >>> distribute.num_replicas()  # no strategy
    1
    """
    ctx = _replica_context()
    if ctx is None:
        return tf.distribute.get_strategy().num_replicas_in_sync
    return ctx.num_replicas_in_sync


def replica_id():
    """This replica's position in the global batch (0 without a strategy).

    Example:

    >>> from keras_contrastive import distribute
    >>> distribute.replica_id()
    0
    """
    ctx = _replica_context()
    if ctx is None:
        return 0
    return ctx.replica_id_in_sync_group


def all_gather(x, axis=0):
    """Concatenates ``x`` from every replica along ``axis``, in replica order.

    Differentiable: the gradient of the gathered tensor flows back to the
    slice each replica contributed.  Without a strategy (or with one replica)
    it returns ``x`` itself.

    Args:
        x: a tensor whose shape is the same on every replica.
        axis: the axis to concatenate along.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import distribute
    >>> distribute.all_gather(tf.ones([2, 3])).shape
    TensorShape([2, 3])
    """
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_gather(x, axis=axis)


def all_reduce_sum(x):
    """Sums ``x`` over replicas (``x`` itself without a strategy).

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import distribute
    >>> float(distribute.all_reduce_sum(tf.constant(2.5)))
    2.5
    """
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def global_mean(x):
    """Mean of ``x`` over axis 0 of the global batch (every replica's rows).

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import distribute
    >>> distribute.global_mean(tf.constant([[1.0, 2.0], [3.0, 4.0]])).numpy()
    array([2., 3.], dtype=float32)
    """
    count = all_reduce_sum(tf.cast(tf.shape(x)[0], x.dtype))
    return all_reduce_sum(tf.reduce_sum(x, axis=0)) / count


def replica_slice(x):
    """This replica's equal share of ``x`` along axis 0 (``x`` itself on one replica):
    for state every replica holds whole, so that each adds its own part to a
    global sum.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import distribute
    >>> distribute.replica_slice(tf.range(4)).numpy()  # one replica: all of it
    array([0, 1, 2, 3], dtype=int32)
    """
    replicas = num_replicas()
    if replicas == 1:
        return x
    size = tf.shape(x)[0] // replicas
    return x[replica_id() * size:(replica_id() + 1) * size]


def global_offset(local_batch_size):
    """Index in the global batch of this replica's first example.

    Example:

    >>> from keras_contrastive import distribute
    >>> int(distribute.global_offset(8))
    0
    """
    return tf.cast(replica_id(), tf.int32) * tf.cast(local_batch_size, tf.int32)


def is_multi_worker(strategy=None):
    """Whether ``strategy`` (default: the current one) spans several worker processes.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import distribute
    >>> distribute.is_multi_worker(), distribute.is_multi_worker(tf.distribute.get_strategy())
    (False, False)
    """
    strategy = strategy or tf.distribute.get_strategy()
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def is_chief(strategy=None):
    """Whether this process should write checkpoints, exports and logs.

    True without a multi-worker strategy; under ``MultiWorkerMirroredStrategy``
    only on the ``chief`` task, or on worker 0 of a cluster without one.
    Every worker trains; only the chief writes:

    >>> import keras
    >>> from keras_contrastive import distribute
    >>> callbacks = ([keras.callbacks.ModelCheckpoint("/tmp/ssl.keras")]
    ...              if distribute.is_chief() else [])
    >>> distribute.is_chief()
    True
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
