"""Objectives: pure functions of embeddings (plus Keras ``Loss`` wrappers)."""
from keras_contrastive.losses.info_nce import (
    batch_info_nce, info_nce, nearest_neighbour_nce, negative_cosine_similarity)
from keras_contrastive.losses.nnclr import nearest_neighbours, nnclr_loss
from keras_contrastive.losses.nt_xent import NTXent, nt_xent

__all__ = [
    "NTXent", "batch_info_nce", "info_nce", "nearest_neighbour_nce", "nearest_neighbours",
    "negative_cosine_similarity", "nnclr_loss", "nt_xent",
]
