"""Encoders: ResNets with a CIFAR or ImageNet stem, small ViTs, a small CNN, and any Keras
model (``keras.applications``, keras-hub backbones).

Every encoder maps float32 images ``[B, H, W, C]`` in [0, 1] to pooled
features ``[B, D]``.  ``spatial_encoder(encoder)`` gives the same encoder
before its pooling (a feature map ``[B, h, w, D]`` or patch tokens
``[B, N, D]``, weights shared) and ``spatial_layout(encoder)`` says which;
``vit_stages(encoder)`` splits a ViT into its patch embedding and its
Transformer, for methods that encode a subset of the patches.

Example:

>>> import numpy as np
>>> from keras_contrastive import backbones
>>> encoder = backbones.resnet18((32, 32, 3), width=4)
>>> images = np.zeros((2, 32, 32, 3), "float32")
>>> encoder(images).shape, backbones.spatial_encoder(encoder)(images).shape
(TensorShape([2, 32]), TensorShape([2, 4, 4, 32]))
"""
from keras_contrastive.backbones.applications import as_encoder
from keras_contrastive.backbones.resnet import resnet, resnet18, resnet50
from keras_contrastive.backbones.small import small_cnn
from keras_contrastive.backbones.spatial import SpatialLayout, spatial_encoder, spatial_layout
from keras_contrastive.backbones.vit import (
    ClassTokenOutput, ClassTokenPositionEmbedding, PatchTokens, ViTStages, vit, vit_micro,
    vit_stages, vit_tiny)

__all__ = ["as_encoder", "resnet", "resnet18", "resnet50", "small_cnn", "vit", "vit_tiny", "vit_micro",
           "spatial_encoder", "spatial_layout", "SpatialLayout", "vit_stages", "ViTStages",
           "ClassTokenOutput", "ClassTokenPositionEmbedding", "PatchTokens"]
