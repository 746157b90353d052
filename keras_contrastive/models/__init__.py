"""Self-supervised models: ``keras.Model`` subclasses trained with ``fit``."""
from keras_contrastive.models.base import (
    ContrastiveModel, MomentumTargetModel, centred, embedding_std, representation_model)
from keras_contrastive.models.byol import BYOL
from keras_contrastive.models.cpc import CPC
from keras_contrastive.models.densecl import DenseCL
from keras_contrastive.models.dino import DINO
from keras_contrastive.models.distillation import Distillation
from keras_contrastive.models.dual_encoder import DualEncoder
from keras_contrastive.models.ijepa import IJEPA
from keras_contrastive.models.knn_moco import KNNMoCo
from keras_contrastive.models.leoclr import LeOCLR, LeOCLREndToEnd
from keras_contrastive.models.mae import MAE
from keras_contrastive.models.moco import MoCo
from keras_contrastive.models.moco_v3 import MoCoV3
from keras_contrastive.models.nnclr import NNCLR
from keras_contrastive.models.npid import NPID
from keras_contrastive.models.pretext import (
    Colorization, Inpainting, Jigsaw, RotationPrediction)
from keras_contrastive.models.redundancy import BarlowTwins, VICReg
from keras_contrastive.models.simclr import SimCLR
from keras_contrastive.models.simsiam import SimSiam
from keras_contrastive.models.supcon import SupCon
from keras_contrastive.models.swav import SwAV

__all__ = [
    "BYOL", "BarlowTwins", "CPC", "Colorization", "ContrastiveModel", "DINO", "DenseCL",
    "Distillation", "DualEncoder", "IJEPA", "Inpainting", "Jigsaw",
    "KNNMoCo", "LeOCLR", "LeOCLREndToEnd", "MAE", "MoCo", "MoCoV3", "MomentumTargetModel", "NNCLR",
    "NPID", "RotationPrediction", "SimCLR", "SimSiam", "SupCon", "SwAV", "VICReg", "centred",
    "embedding_std", "representation_model",
]
