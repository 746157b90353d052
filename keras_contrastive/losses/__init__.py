"""Objectives: pure functions of embeddings (plus Keras ``Loss`` wrappers)."""
from keras_contrastive.losses.clip import clip_loss
from keras_contrastive.losses.cpc import cpc_nce
from keras_contrastive.losses.densecl import dense_contrastive
from keras_contrastive.losses.dino import dino
from keras_contrastive.losses.distillation import feature_distillation
from keras_contrastive.losses.info_nce import (
    batch_info_nce, info_nce, nearest_neighbour_nce, negative_cosine_similarity)
from keras_contrastive.losses.ibot import ibot_patch_loss
from keras_contrastive.losses.ijepa import ijepa_loss
from keras_contrastive.losses.koleo import koleo
from keras_contrastive.losses.mae import mae_loss
from keras_contrastive.losses.nnclr import nearest_neighbours, nnclr_loss
from keras_contrastive.losses.npid import npid
from keras_contrastive.losses.nt_xent import NTXent, nt_xent
from keras_contrastive.losses.redundancy import barlow_twins, vicreg, vicreg_terms
from keras_contrastive.losses.supcon import supcon
from keras_contrastive.losses.swav import sinkhorn, swapped_prediction

__all__ = [
    "NTXent", "barlow_twins", "batch_info_nce", "clip_loss", "cpc_nce", "dense_contrastive",
    "dino", "feature_distillation", "ibot_patch_loss", "ijepa_loss", "info_nce", "koleo",
    "mae_loss",
    "nearest_neighbour_nce", "nearest_neighbours", "negative_cosine_similarity", "nnclr_loss",
    "npid", "nt_xent", "sinkhorn", "supcon", "swapped_prediction", "vicreg", "vicreg_terms",
]
