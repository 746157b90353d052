"""kNN-MoCo (Van Gansbeke et al., "Revisiting Contrastive Methods for Unsupervised Learning of Visual Representations")."""
import keras
import tensorflow as tf

from keras_contrastive.losses.info_nce import nearest_neighbour_nce
from keras_contrastive.models.base import check_arguments
from keras_contrastive.models.moco import MoCo, moco_v2_protocol
from keras_contrastive.state import FeatureQueue
from keras_contrastive.models.registry import MethodSpec, Paper, register_method


@keras.saving.register_keras_serializable(package="keras_contrastive")
class KNNMoCo(MoCo):
    """MoCo-v2 plus a nearest-neighbour loss mined in a queue of backbone features.

    A second queue, aligned entry by entry with the key queue, holds the
    l2-normalised backbone features (before the projection head) of the
    keys.  Each query's ``k`` nearest neighbours in it (cosine, on backbone
    features) are pulled toward the query through their projected keys
    (:func:`keras_contrastive.losses.info_nce.nearest_neighbour_nce`).  Total
    loss = ``L_instance + nn_weight * L_NN``, with ``L_NN`` off for the
    first ``warmup_epochs`` epochs.  Both losses are computed before the
    step's keys are enqueued (else each query would find its own key).

    Args:
        encoder: images in [0, 1] -> features ``[B, D]``.
        k: neighbours per query (20; the paper finds 1-50 stable).
        nn_weight: ``lambda`` (0.4; 0.8 hurts in the paper's ablation).
        warmup_epochs: epochs without the NN loss (5 in the paper).
        momentum: key-encoder momentum (0.995, lower than MoCo's 0.999).
        temperature: 0.2 (MoCo-v2).
        **kwargs: the rest of :class:`MoCo`'s arguments (version 2).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.KNNMoCo(backbones.resnet18((28, 28, 1), width=8), queue_size=4096)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    """

    config_fields = MoCo.config_fields + ("k", "nn_weight", "warmup_epochs")

    def __init__(self, encoder, k=20, nn_weight=0.4, warmup_epochs=5, momentum=0.995,
                 temperature=0.2, version=2, **kwargs):
        # checked once, before MoCo builds its networks (MoCo checks and stores its own)
        checked = check_arguments({"k": k, "nn_weight": nn_weight,
                                   "warmup_epochs": warmup_epochs})
        super().__init__(encoder, version=version, momentum=momentum,
                         temperature=temperature, **kwargs)
        self.k, self.nn_weight, self.warmup_epochs = (
            checked["k"], checked["nn_weight"], checked["warmup_epochs"])
        if self.k > self.queue_size:
            raise ValueError(f"`k` must be an integer in [1, queue_size], got k={k!r}.")
        self.feature_queue = FeatureQueue(self.queue_size, self.feature_dim, name="feature_queue")
        self.warmup_steps = self.add_weight(shape=(), dtype="int64", trainable=False,
                                            initializer="zeros", name="warmup_steps",
                                            aggregation="only_first_replica")
        self.built = True

    def plan_training(self, total_steps, steps_per_epoch):
        if steps_per_epoch:
            self.warmup_steps.assign(self.warmup_epochs * steps_per_epoch)

    def compute_objective(self, views, training):
        loss, extras = super().compute_objective(views, training)
        if self.nn_weight == 0:
            return loss, extras
        feature_queue, key_queue = self.feature_queue.values, self.queue.values
        nn_loss = tf.add_n([
            nearest_neighbour_nce(q, features, feature_queue, key_queue, self.k, self.temperature)
            for q, features, _, _ in extras["pairs"]]) / len(extras["pairs"])
        active = tf.cast(self.optimizer.iterations >= self.warmup_steps, nn_loss.dtype)
        return loss + self.nn_weight * active * nn_loss, extras

    def update_state(self, extras):
        super().update_state(extras)
        for _, _, _, key_features in extras["pairs"]:  # same order as the key queue
            self.feature_queue.enqueue(
                tf.math.l2_normalize(tf.cast(key_features, tf.float32), axis=1))


register_method(MethodSpec(
    "knn_moco", KNNMoCo,
    Paper("kNN-MoCo", "Van Gansbeke, Vandenhende, Georgoulis, Van Gool: Revisiting Contrastive "
          "Methods for Unsupervised Learning of Visual Representations (NeurIPS 2021)",
          dict(batch_size=256, epochs=200, learning_rate=0.3, weight_decay=1e-4,
               temperature=0.2, projection_dim=128, key_momentum=0.995, image_size=160,
               local_crops=4, local_size=96, min_overlap=0.2, stronger=True,
               model_options={"queue_size": 65536, "hidden_dim": 2048, "k": 20,
                              "nn_weight": 0.4, "warmup_epochs": 5}),
          "55.9 % ImageNet linear top-1 and 71.9 mIoU VOC segmentation after 200 epochs on "
          "COCO (Table 4; 56.1 % and 73.5 after 800, Table 9)",
          ("the paper pretrains on COCO, whose images have no class labels: pass "
           "--dataset for the pretraining data; the recipe evaluates on that data set's labels",
           "the lowered key momentum is 0.995 (the library's KNNMoCo default)")),
    # the source paper's method at MoCo-v2's protocol settings
    protocol=lambda config: moco_v2_protocol(config, warmup_epochs=1)))
