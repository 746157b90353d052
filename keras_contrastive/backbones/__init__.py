"""Encoders: ResNets with a CIFAR or ImageNet stem, small ViTs, a small CNN, and any Keras
model."""
from keras_contrastive.backbones.applications import as_encoder
from keras_contrastive.backbones.resnet import resnet, resnet18, resnet50
from keras_contrastive.backbones.small import small_cnn
from keras_contrastive.backbones.vit import vit, vit_tiny

__all__ = ["as_encoder", "resnet", "resnet18", "resnet50", "small_cnn", "vit", "vit_tiny"]
