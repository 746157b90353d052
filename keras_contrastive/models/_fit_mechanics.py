"""How ``ContrastiveModel`` runs inside Keras' ``fit`` (internal).

Not the method's template (that is ``models/base.py``), but the mechanics
around it that Keras 3 lacks:

* **exact resume mid-epoch**: ``make_train_function`` first reads and drops
  the batches a resumed run had already trained (``resume_skip_batches``,
  set by ``callbacks.BackupAndRestore``);
* **multi-worker training** (keras#20585): the model and its optimizer's
  slots are built before the first step is traced
  (``_maybe_symbolic_build``), and the step's logs get shape ``[1]`` under
  ``MultiWorkerMirroredStrategy`` (``multi_worker_logs``).
"""
import keras
import tensorflow as tf

from keras_contrastive import distribute

__all__ = ["FitMechanics"]


class FitMechanics(keras.Model):
    """A ``keras.Model`` whose ``fit`` resumes mid-epoch exactly and runs
    under ``MultiWorkerMirroredStrategy``; ``ContrastiveModel`` is one.

    Example:

    >>> from keras_contrastive import backbones, models
    >>> from keras_contrastive.models._fit_mechanics import FitMechanics
    >>> model = models.SimCLR(backbones.small_cnn((8, 8, 1)))
    >>> isinstance(model, FitMechanics), model.resume_skip_batches
    (True, 0)
    """

    #: batches of the current epoch trained before an interruption, which a
    #: resumed ``fit`` consumes without training (``callbacks.BackupAndRestore``)
    resume_skip_batches = 0

    def make_train_function(self, force=False):
        """Keras' train function, preceded by the skipping of the batches a
        resumed run had trained before it was interrupted
        (``resume_skip_batches``, set by ``callbacks.BackupAndRestore``): they
        are read from the iterator and dropped, so the run goes on with the
        batch that followed the backup, as an uninterrupted run would.  The
        skip lives in Python around the compiled step, not in the graph."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force)
        train_batches = self.train_function

        def train_function(iterator):
            if self.resume_skip_batches <= 0:
                return train_batches(iterator)
            for _ in range(self.steps_per_execution):
                next(iterator)
            self.resume_skip_batches -= self.steps_per_execution
            return {}

        self.train_function = train_function
        return train_function

    def multi_worker_logs(self, logs):
        """``logs`` as the step returns them: under MultiWorkerMirroredStrategy
        Keras reduces them with ``strategy.reduce("MEAN", v, axis=0)``, which
        a scalar lacks (keras#20585), so they get shape ``[1]`` there (they
        reduce to the same scalar mean); unchanged under any other strategy."""
        if distribute.is_multi_worker(self.distribute_strategy):
            return {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Builds the optimizer's slots before the first step is traced.

        Without a strategy, Keras defers this to the trace of the train step;
        the slots are then variables created inside a ``tf.function``, and
        TensorFlow traces the whole step a second time (twice the tracing
        time of every ``fit``; ``tests/test_pretraining.py`` counts the traces).

        keras#20585: under MultiWorkerMirroredStrategy, Keras' own build pulls
        a batch and reduces it across replicas eagerly to learn its shapes,
        which fails (a dict of PerReplica views cannot be reduced across
        workers).  A ``ContrastiveModel`` is built in ``__init__``, so only
        the optimizer's slots remain to be created there too.  So a built model
        (every ``ContrastiveModel``) whose compiled loss and metrics have nothing
        left to build skips Keras' build under any strategy: it would only pull
        a batch and mean-reduce it across replicas, which fails for boolean
        patch masks (``views["masks"]``) and caption strings (``DualEncoder``)."""
        unbuilt = [layer.name for layer in self._flatten_layers() if not layer.built]
        compiled_unbuilt = any(part is not None and not part.built for part in (
            getattr(self, "_compile_metrics", None), getattr(self, "_compile_loss", None)))
        if distribute.is_multi_worker(self.distribute_strategy) or not (
                unbuilt or compiled_unbuilt):
            if unbuilt:
                raise ValueError(f"{type(self).__name__} has unbuilt layers {unbuilt}: build "
                                 "them in __init__ (multi-worker training cannot build from a "
                                 "batch).")
        else:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        if not unbuilt and self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)
