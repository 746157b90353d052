"""NPID (Wu et al. 2018): instance discrimination against a memory bank of every image."""
import keras
import tensorflow as tf

from keras_contrastive._checks import check_non_negative, check_temperature, is_positive_int
from keras_contrastive.heads import projection_head
from keras_contrastive.losses.npid import npid
from keras_contrastive.models.base import ContrastiveModel
from keras_contrastive.models.registry import COSINE_NOTE, MethodSpec, Paper, register_method
from keras_contrastive.state import MemoryBank
from keras_contrastive.views.spec import check_indices_spec

#: the quality protocol's training split (Fashion-MNIST's 60,000 images): the bank's
#: size where a run does not say how many images it trains on
FASHION_MNIST_TRAIN_IMAGES = 60_000


@keras.saving.register_keras_serializable(package="keras_contrastive")
class NPID(ContrastiveModel):
    """NPID: each image is its own class, represented by its entry of a memory bank.

    Every global view (``views["global"]``) is encoded, projected by a
    linear layer to ``projection_dim`` and l2-normalised, then classified
    among all ``num_images`` training images by
    :func:`keras_contrastive.losses.npid` (the non-parametric softmax over the
    bank, the image's own entry the positive; the loss is the mean over
    views).  After the optimizer step each view updates its image's entry,
    ``v_i <- normalise(m v_i + (1 - m) f_i)``, one view after the other
    (two views: two visits of the image), with the global batch's indices
    and features, so every replica keeps the same bank.  The bank is a
    ``state.MemoryBank`` (Keras variables: saved and restored with the
    model).  The method reads each image's index, ``views["indices"]``: build
    the views with ``make_views(dataset, augment, indices=True)``; ``fit``
    refuses views without them.

    Args:
        encoder: a ``keras.Model`` from images in [0, 1] to features ``[B, D]``.
        num_images: entries of the memory bank, the training images (indices
            must lie in ``[0, num_images)``).
        projection_dim: size of the features in the bank (128 in the paper).
        temperature: softmax temperature (0.07 in the paper).
        momentum: the bank's momentum ``m`` (0.5 in the paper).
        proximal: weight ``lambda`` of the proximal term
            ``lambda * ||f_i - v_i||^2`` (0: off).

    Example:

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive import backbones, models, views
    >>> images = tf.random.uniform([64, 28, 28, 1], maxval=256, dtype=tf.int32, seed=0)
    >>> data = views.make_views(tf.data.Dataset.from_tensor_slices(tf.cast(images, "uint8")),
    ...                         views.simclr_augment(28, channels=1), batch_size=32,
    ...                         indices=True)
    >>> model = models.NPID(backbones.small_cnn((28, 28, 1)), num_images=64, projection_dim=16)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
    >>> history = model.fit(data, epochs=1, verbose=0)
    >>> model.bank.values.shape
    TensorShape([64, 16])
    """

    needs_indices = True
    config_fields = ("num_images", "projection_dim", "temperature", "momentum", "proximal")

    def __init__(self, encoder, num_images, projection_dim=128, temperature=0.07, momentum=0.5,
                 proximal=0.0, **kwargs):
        super().__init__(encoder, **kwargs)
        if not is_positive_int(num_images):
            raise ValueError(f"`num_images` must be a positive integer (the training images), "
                             f"got num_images={num_images!r}.")
        check_temperature(temperature)
        check_non_negative(proximal=proximal)
        self.keep_config(locals())
        self.projector = projection_head([], projection_dim, batch_norm=False,
                                         input_dim=self.feature_dim)
        self.bank = MemoryBank(num_images, projection_dim, momentum, name="memory_bank")
        self.built = True

    def check_views(self, dataset, steps_per_epoch=None):
        """The base's checks, and a bank too small for the views: ``fit`` refuses
        an epoch of ``B`` batches of ``b`` images when ``B * b > num_images``
        (``B``: ``steps_per_epoch`` when given, else the dataset's batches)."""
        super().check_views(dataset, steps_per_epoch)
        if not isinstance(dataset, tf.data.Dataset):
            return
        spec = dataset.element_spec
        first = spec["global"][0] if "global" in spec else spec["images"]
        batches = int(dataset.cardinality())
        if steps_per_epoch:  # a dataset of several epochs (make_views(epochs=...))
            batches = min(batches, steps_per_epoch) if batches > 0 else steps_per_epoch
        if batches > 0 and first.shape[0] and batches * first.shape[0] > self.num_images:
            raise ValueError(
                f"the memory bank holds num_images={self.num_images} entries, but the views "
                f"hold at least {batches * first.shape[0]} images an epoch ({batches} batches "
                f"of {first.shape[0]}): build NPID(num_images=...) with the number of "
                "training images.")

    def compute_objective(self, views, training):
        if "indices" not in views:
            check_indices_spec(type(self).__name__, views)
        crops = list(views["global"])
        features = self.encoder(tf.concat(crops, axis=0), training=training)
        projections = self.projector(features, training=training)
        per_view = tf.split(projections, len(crops), axis=0)
        bank = self.bank.values
        loss = tf.add_n([npid(z, views["indices"], bank, self.temperature, self.proximal)
                         for z in per_view]) / len(per_view)
        return loss, {"embeddings": projections, "views": per_view,
                      "indices": views["indices"]}

    def update_state(self, extras):
        for projections in extras["views"]:  # each view is one visit of its image
            self.bank.update(extras["indices"], projections)


register_method(MethodSpec(
    "npid", NPID,
    Paper("NPID", "Wu, Xiong, Yu, Lin: Unsupervised Feature Learning via Non-Parametric "
          "Instance Discrimination (CVPR 2018)",
          dict(batch_size=256, epochs=200, learning_rate=0.03, weight_decay=1e-4,
               temperature=0.07, projection_dim=128, blur_prob=0.0,
               model_options={"momentum": 0.5}),
          "54.0 % linear top-1 (ResNet-50 conv5, 200 epochs, NCE with 4096 noise samples)",
          ("the full softmax over the bank in place of NCE with 4096 noise samples",
           "two views per image, each a query and a visit of the bank (the paper: one)",
           COSINE_NOTE)),
    # the bank holds the training split: the run passes its size (num_images);
    # without one, the protocol's Fashion-MNIST split or its train_subset
    protocol=lambda config: dict(
        num_images=config.train_subset or FASHION_MNIST_TRAIN_IMAGES,
        projection_dim=config.projection_dim)))
