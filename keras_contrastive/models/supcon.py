"""Supervised contrastive learning (Khosla et al. 2020): SimCLR's network, label-aware positives."""
import keras
import tensorflow as tf

from keras_contrastive.heads import projection_head
from keras_contrastive.losses.supcon import supcon
from keras_contrastive.models.base import ContrastiveModel
from keras_contrastive.models.registry import (
    MethodSpec, Paper, SIMCLR_VIEWS, linear_scaling, register_method)
from keras_contrastive.views.spec import check_labels_spec


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SupCon(ContrastiveModel):
    """SupCon: every view of every image of the same class is a positive.

    The views (``views["global"]``, two or more) are encoded in one call,
    projected by an MLP and compared with
    :func:`keras_contrastive.losses.supcon` against the global batch, using
    ``views["labels"]``: build the views with
    ``make_views(labelled_dataset, augment, labels=True)``.  ``fit`` refuses
    unlabelled views before training starts.

    Args:
        encoder: a ``keras.Model`` from images in [0, 1] to features ``[B, D]``.
        projection_dim: output of the projection head (128 in the paper).
        hidden_dim: its hidden width (default: ``D``, 2048 for ResNet-50 in the paper).
        temperature: 0.1 in the paper.
        synchronized_bn: batch statistics of the head over the global batch.

    Example:

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive import backbones, models, views
    >>> images = tf.random.uniform([64, 28, 28, 1], maxval=256, dtype=tf.int32, seed=0)
    >>> labelled = tf.data.Dataset.from_tensor_slices((tf.cast(images, "uint8"), tf.range(64) % 4))
    >>> data = views.make_views(labelled, views.simclr_augment(28, channels=1),
    ...                         batch_size=32, labels=True)
    >>> model = models.SupCon(backbones.small_cnn((28, 28, 1)), projection_dim=16)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> history = model.fit(data, epochs=1, verbose=0)
    """

    needs_labels = True
    config_fields = ("projection_dim", "hidden_dim", "temperature", "synchronized_bn")

    def __init__(self, encoder, projection_dim=128, hidden_dim=None, temperature=0.1,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        self.keep_config(locals())
        self.projector = projection_head([self.feature_dim if hidden_dim is None else hidden_dim], projection_dim,
                                         synchronized_bn=synchronized_bn,
                                         input_dim=self.feature_dim)
        self.built = True

    def compute_objective(self, views, training):
        if "labels" not in views:
            check_labels_spec(type(self).__name__, views)
        crops = list(views["global"])
        features = self.encoder(tf.concat(crops, axis=0), training=training)
        projections = self.projector(features, training=training)
        loss = supcon(tf.split(projections, len(crops), axis=0), views["labels"],
                      self.temperature)
        return loss, {"embeddings": projections}


register_method(MethodSpec(
    "supcon", SupCon,
    Paper("SupCon", "Khosla et al.: Supervised Contrastive Learning (NeurIPS 2020)",
          dict(batch_size=6144, epochs=700, optimizer="lars",
               learning_rate=linear_scaling(0.2, 6144), weight_decay=1e-6, warmup_epochs=10,
               temperature=0.1, projection_dim=128, model_options={"hidden_dim": 2048},
               **SIMCLR_VIEWS),
          "78.7 % top-1 (ResNet-50, 700 epochs, linear classifier on the frozen encoder)",
          ("uses the labels: a supervised reference, not a self-supervised result",
           "LARS at the library's 0.2 x batch / 256 (see the paper's appendix for its rate)")),
    # uses the training labels: an upper reference, not a self-supervised result
    protocol=lambda config: dict(projection_dim=config.projection_dim)))
