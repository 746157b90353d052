"""Training-time monitors of representation quality."""
import keras
import numpy as np

from keras_contrastive.evaluation.knn import knn_accuracy

__all__ = ["KNNMonitor"]


@keras.saving.register_keras_serializable(package="keras_contrastive")
class KNNMonitor(keras.callbacks.Callback):
    """Log the weighted-kNN accuracy of the encoder as ``val_knn_acc``.

    At the end of every ``every``-th epoch the encoder being trained
    (``model.encoder``, or the model itself when it has no ``encoder``) embeds
    ``train`` (the kNN memory) and ``test`` (the queries), and
    ``knn_accuracy`` is written into the epoch logs as ``val_knn_acc``.  It
    therefore appears in the progress bar and ``History`` and can drive
    ``ModelCheckpoint(monitor="val_knn_acc", mode="max")`` or
    ``EarlyStopping`` -- list ``KNNMonitor`` *before* those callbacks, since
    Keras calls callbacks in order.  On skipped epochs the key is absent.

    Args:
        train: labelled memory set: a ``tf.data.Dataset`` of
            ``(image, label)`` (batched or not, uint8 or float) or a tuple
            ``(images, labels)`` of NumPy arrays.  Use a deterministic
            (un-augmented) pipeline.
        test: labelled queries, in the same forms as ``train``.
        k: number of neighbours.
        temperature: temperature of the ``exp(similarity / T)`` vote weights.
        every: evaluate every ``every`` epochs (on epochs ``every``,
            ``2 * every``, ...).
        batch_size: images per encoder call for unbatched/NumPy data.

    ``get_config`` records the scalar arguments only: datasets are not
    serialisable, so ``from_config`` needs ``train`` and ``test`` passed in
    the config dict by the caller.

    Example:

    ```python
    import keras, numpy as np
    from keras_contrastive.callbacks import KNNMonitor

    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1), np.uint8)
    labels = np.arange(64) % 4
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(images / 255, labels, epochs=1, verbose=0,
                        callbacks=[KNNMonitor((images, labels), (images, labels), k=5)])
    print(history.history["val_knn_acc"])
    ```
    """

    def __init__(self, train, test, k=200, temperature=0.1, every=1, batch_size=512):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"`k` must be a positive integer, got k={k!r}.")
        if not np.isscalar(temperature) or isinstance(temperature, bool) or not temperature > 0:
            raise ValueError(f"`temperature` must be a positive number, got temperature={temperature!r}.")
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"`every` must be a positive integer, got every={every!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got batch_size={batch_size!r}.")
        self.train = train
        self.test = test
        self.k = int(k)
        self.temperature = float(temperature)
        self.every = int(every)
        self.batch_size = int(batch_size)

    def _encoder(self):
        encoder = getattr(self.model, "encoder", None)
        return self.model if encoder is None else encoder

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        accuracy = knn_accuracy(
            self._encoder(),
            self.train,
            self.test,
            k=self.k,
            temperature=self.temperature,
            batch_size=self.batch_size,
        )
        if logs is not None:
            logs["val_knn_acc"] = accuracy

    def get_config(self):
        return {
            "k": self.k,
            "temperature": self.temperature,
            "every": self.every,
            "batch_size": self.batch_size,
        }
