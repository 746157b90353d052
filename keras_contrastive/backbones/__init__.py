"""Encoders: ResNets with a CIFAR or ImageNet stem, and any Keras model."""
from keras_contrastive.backbones.applications import as_encoder
from keras_contrastive.backbones.resnet import resnet, resnet18, resnet50

__all__ = ["as_encoder", "resnet", "resnet18", "resnet50"]
