"""Views: random maps from one image to a dict of augmented views.

`make_views(dataset, augment)` turns a dataset of images into batches
`{"global": (v1, v2, ...)}` of float32 views in [0, 1]; `simclr_augment`
builds SimCLR's augmentation from Keras preprocessing layers plus
`RandomResizedCrop` and `RandomApply`; `MultiCrop` is a view strategy that
makes 2 global and several local crops at once (constrained to overlap the
key crop, or IoU-limited pairs).
"""
from keras_contrastive.views.augment import simclr_augment
from keras_contrastive.views.masking import (
    PatchMasking, block_masks, multiblock_masks, random_masks)
from keras_contrastive.views.multi_crop import MultiCrop, box_iou, overlap_share
from keras_contrastive.views.pipeline import ViewMaker, make_views
from keras_contrastive.views.plot import plot_views
from keras_contrastive.views.random_apply import RandomApply
from keras_contrastive.views.random_resized_crop import RandomResizedCrop
from keras_contrastive.views.semantic import SemanticMaskViews
from keras_contrastive.views.stronger import StrongerAugment, strong_policy

__all__ = ["MultiCrop", "PatchMasking", "RandomApply", "RandomResizedCrop", "SemanticMaskViews",
           "StrongerAugment", "ViewMaker", "block_masks", "box_iou",
           "make_views", "multiblock_masks", "overlap_share", "plot_views", "random_masks", "simclr_augment",
           "strong_policy"]
