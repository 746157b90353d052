"""Objectives: pure functions of embeddings (plus Keras ``Loss`` wrappers)."""
from keras_contrastive.losses.info_nce import info_nce, negative_cosine_similarity
from keras_contrastive.losses.nt_xent import NTXent, nt_xent

__all__ = ["NTXent", "info_nce", "negative_cosine_similarity", "nt_xent"]
