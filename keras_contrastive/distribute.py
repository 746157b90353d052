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

    Assumes every replica holds an equal share (``replica_id * local_batch_size``):
    ``ContrastiveModel.fit`` refuses views that could split unevenly before
    training, and :func:`check_even_split` stops a step on batches it could not see.

    Example:

    >>> from keras_contrastive import distribute
    >>> int(distribute.global_offset(8))
    0
    """
    return tf.cast(replica_id(), tf.int32) * tf.cast(local_batch_size, tf.int32)


def uneven_split_message(replicas):
    """What the refusal of a global batch that does not split evenly says.

    Example:

    >>> from keras_contrastive import distribute
    >>> distribute.uneven_split_message(2)[:50]
    'a global batch cannot be split evenly across 2 rep'
    """
    return (f"a global batch cannot be split evenly across {replicas} "
            "replicas: the losses and the step assume equal shares (the self-mask of "
            "NT-Xent would land on the wrong row). Batch with drop_remainder=True "
            f"(make_views' default) and a batch size that is a multiple of {replicas}.")


def check_even_split(data):
    """``data`` (a nested structure of batches), checked to split evenly across replicas.

    On one replica, or where the first batch's size is static (``fit`` refused
    a static global batch that does not divide, and a pipeline without a
    fixed batch size), ``data`` is returned as is.  Otherwise (a batch size
    known only at run time, as in a custom loop over a distributed dataset)
    one all-reduce of a scalar sums the replicas' row counts, and each
    replica asserts that its own count times the replica count is that sum
    (true on every replica only when the shares are equal) before anything
    uses the batch: a step on an uneven split stops with an
    ``InvalidArgumentError`` whose message is :func:`uneven_split_message`'s
    and names the sizes.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import distribute
    >>> batch = {"global": (tf.ones([3, 2]), tf.ones([3, 2]))}
    >>> distribute.check_even_split(batch) is batch  # one replica
    True
    """
    replicas = num_replicas()
    first = tf.nest.flatten(data)[0]
    if replicas == 1 or first.shape[0] is not None:
        return data
    size = tf.shape(first)[0]
    # float32 counts are exact up to 2**24 examples
    total = tf.cast(all_reduce_sum(tf.cast(size, tf.float32)), tf.int32)
    even = tf.debugging.Assert(
        tf.equal(size * replicas, total),
        [uneven_split_message(replicas), "Examples in the global batch:", total,
         "on this replica:", size])
    with tf.control_dependencies([even]):
        return tf.nest.map_structure(tf.identity, data)


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
