"""LeOCLR (Alkhalefi et al.): the uncropped original image is the anchor of two random crops."""
import keras
import tensorflow as tf

from keras_contrastive.losses.info_nce import info_nce
from keras_contrastive.models.moco import MoCo, moco_v2_protocol
from keras_contrastive.models.simclr import SimCLR
from keras_contrastive.models.registry import MethodSpec, Paper, register_method


@keras.saving.register_keras_serializable(package="keras_contrastive")
class LeOCLR(MoCo):
    """LeOCLR on MoCo-v2: ``l(u, sg(v1)) + l(u, sg(v2))`` (the paper's eq. 2 and Algorithm 1).

    ``u`` is the query network's projection of the **original** image
    (``views["original"]``: resized, not cropped, then augmented), ``v1`` and
    ``v2`` the momentum network's projections of the two random crops
    (``views["global"]``); ``l`` is MoCo's InfoNCE against the queue.  The
    crops are never pulled toward each other, only toward the whole image,
    so two crops that share no object are not forced together.  Both crops'
    keys are enqueued after the step.

    Args:
        encoder: images in [0, 1] -> features ``[B, D]``.
        momentum: 0.999 (as MoCo-v2).
        **kwargs: the rest of :class:`MoCo`'s arguments (version 2, T=0.2).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.LeOCLR(backbones.resnet18((28, 28, 1), width=8), queue_size=4096)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
    """

    anchor = "original"
    reads_local_views = False

    def compute_objective(self, views, training):
        u, _ = self.encode_query(self.original_view(views), training)
        keys = [self.encode_key(crop, training)[0] for crop in views["global"][:2]]
        negatives = self.queue.values
        loss = tf.add_n([info_nce(u, k, negatives, self.temperature) for k in keys])
        return loss, {"embeddings": u, "keys": keys}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class LeOCLREndToEnd(SimCLR):
    """LeOCLR's end-to-end variant: ``nt_xent(u, v1) + nt_xent(u, v2)``, all branches trained.

    :class:`SimCLR` with ``anchor="original"``: one encoder and projector for
    the original ``u`` and both crops, negatives from the global batch as in
    SimCLR (takes :class:`SimCLR`'s arguments).

    Example:

    >>> from keras_contrastive import backbones, models
    >>> model = models.LeOCLREndToEnd(backbones.resnet18((28, 28, 1), width=8), temperature=0.1)
    """

    def __init__(self, encoder, anchor="original", **kwargs):
        if anchor != "original":
            raise ValueError(
                f"LeOCLREndToEnd's anchor is the original image, got anchor={anchor!r}.")
        super().__init__(encoder, anchor=anchor, **kwargs)


register_method(MethodSpec(
    "leoclr", LeOCLR,
    Paper("LeOCLR", "Alkhalefi, Leontidis, Zhong: LeOCLR: Leveraging Original Images for "
          "Contrastive Learning of Visual Representations (TMLR 2024)",
          dict(batch_size=256, epochs=800, learning_rate=0.03, weight_decay=1e-4,
               temperature=0.2, projection_dim=128, key_momentum=0.999,
               model_options={"queue_size": 65536, "hidden_dim": 2048}),
          "76.2 % linear top-1 (ResNet-50, 800 epochs; 71.7 % at 200)"),
    # the source paper's method at MoCo-v2's protocol settings
    protocol=lambda config: moco_v2_protocol(config)))
