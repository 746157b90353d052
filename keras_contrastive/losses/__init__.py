"""Objectives: pure functions of embeddings (plus Keras ``Loss`` wrappers)."""
from keras_contrastive.losses.nt_xent import NTXent, nt_xent

__all__ = ["NTXent", "nt_xent"]
