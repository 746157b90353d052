"""Distillation from a frozen pretrained teacher into a (smaller) student encoder."""
import keras
import tensorflow as tf

from keras_contrastive.heads import projection_head
from keras_contrastive.losses.distillation import feature_distillation
from keras_contrastive.models.base import ContrastiveModel, centred


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Distillation(ContrastiveModel):
    """Feature distillation: the student (``encoder``) and a head regress a frozen
    teacher's l2-normalised features of the same view.

    Each of the two views goes through the teacher (``training=False``: its batch
    norms use their statistics and never update) and through ``encoder -> head``;
    the loss is :func:`keras_contrastive.losses.feature_distillation` of the head's
    outputs against the teacher's features of the same images (centred over the
    global batch by default), averaged over both views.  The teacher is frozen (``teacher.trainable = False``): it is not in
    ``trainable_weights`` and no step changes it.  It is saved inside the model
    (``model.save`` writes its architecture and weights; ``load_model`` restores it
    frozen), so a ``.keras`` file holds everything a resume needs.

    The teacher is any Keras encoder from images in [0, 1] to ``[B, D_t]`` taking the
    views' size: a model the library pretrained (``model.feature_extractor()``), or a
    keras-hub backbone wrapped by ``backbones.as_encoder``.  Not a registered method:
    the CLI and ``pretrain`` build a method from a backbone name, and a distillation
    run needs a second, trained network (see docs/ARCHITECTURE.md).

    Args:
        encoder: the student, images in [0, 1] -> features ``[B, D_s]``.
        teacher: the frozen teacher, images in [0, 1] -> ``[B, D_t]``.
        hidden_dim: the head's hidden width (an MLP Dense-BN-ReLU-Dense to ``D_t``);
            ``None``: a linear head.
        distance: ``"cosine"`` (default) or ``"smooth_l1"``.
        centre: subtract the teacher features' mean over the global batch before
            they are normalised (default).  A ReLU-pooled teacher's features all lie
            in the positive orthant, their common direction dominates the cosine,
            and without centring the student fell below its random init on the
            kNN protocol (benchmarks/distillation.py, measured 0.623 against 0.606
            init and 0.645 centred, linear head, 100 steps).
        synchronized_bn: the head's BN statistics over the global batch.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> teacher = backbones.small_cnn((28, 28, 1), filters=(32, 64, 128))
    >>> student = backbones.small_cnn((28, 28, 1), filters=(8, 16, 32))
    >>> model = models.Distillation(student, teacher, hidden_dim=64)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> teacher.trainable, model.head.output_shape
    (False, (None, 128))
    >>> # model.fit(views)  # views = keras_contrastive.views.make_views(...)
    """

    config_fields = ("hidden_dim", "distance", "centre", "synchronized_bn")

    def __init__(self, encoder, teacher, hidden_dim=None, distance="cosine", centre=True,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        if not isinstance(teacher, keras.Model) or len(teacher.output_shape) != 2:
            raise ValueError("`teacher` must be a keras.Model from images to features "
                             f"[batch, dim], got teacher={teacher!r}.")
        if tuple(teacher.input_shape[1:]) != tuple(encoder.input_shape[1:]):
            raise ValueError(f"the teacher takes images {teacher.input_shape[1:]} and the "
                             f"student {encoder.input_shape[1:]}: both see the same views.")
        feature_distillation(tf.zeros([1, 1]), tf.ones([1, 1]), distance)  # checks `distance`
        self.keep_config(locals())
        teacher.trainable = False
        self.teacher = teacher
        self.head = projection_head([] if hidden_dim is None else [hidden_dim],
                                    teacher.output_shape[-1], synchronized_bn=synchronized_bn,
                                    input_dim=self.feature_dim, name="distillation_head")
        self.built = True

    def compute_objective(self, views, training):
        both = tf.concat(list(views["global"][:2]), axis=0)
        targets = self.teacher(both, training=False)
        if self.centre:
            targets = centred(targets)  # no gradient; the mean over the global batch
        predictions = self.head(self.encoder(both, training=training), training=training)
        # the mean over the concatenated batch is the mean of the two views' losses
        loss = feature_distillation(predictions, targets, self.distance)
        return loss, {"embeddings": predictions}

    def get_config(self):
        return {**super().get_config(),
                "teacher": keras.saving.serialize_keras_object(self.teacher)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return super().from_config(config)
