"""Self-supervised models: ``keras.Model`` subclasses trained with ``fit``."""
from keras_contrastive.models.base import ContrastiveModel, embedding_std
from keras_contrastive.models.simclr import SimCLR

__all__ = ["ContrastiveModel", "SimCLR", "embedding_std"]
