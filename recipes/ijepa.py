"""I-JEPA with keras-contrastive: pretrain, evaluate, export.

Assran, Duval, Misra, Bojanowski, Vincent, Rabbat, LeCun, Ballas: Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture (CVPR 2023).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/ijepa.py --preset cpu_small --epochs 5
    python recipes/ijepa.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/ijepa.py --help`` lists every flag.

===============  ===========================================================================================  ====================================================
setting          --preset paper                                                                               --preset cpu_small
===============  ===========================================================================================  ====================================================
data             imagenet2012                                                                                 fashion_mnist
backbone         ViT-S/16                                                                                     ViT-Micro/4 (96 wide, 4 blocks)
epochs x batch   300 x 2048                                                                                   5 x 256
optimizer        ADAMW, lr 0.001, wd 0.04, 40 warm-up epochs, cosine                                          ADAMW, lr 0.000125, wd 0.04, 1 warm-up epoch, cosine
views            224 px crops 0.3-1                                                                           native-size crops 0.3-1
model arguments  momentum=0.996, num_targets=4, predictor_depth=6, predictor_dim=384, predictor_num_heads=12  protocol (MethodSpec.protocol)
paper's result   79.3 % linear top-1 (ViT-H/14, 300 epochs)                                                   BENCHMARKS.md
===============  ===========================================================================================  ====================================================

Departures from the paper:

* ViT-S/16 in place of ViT-H/14 (the library's ViTs); the predictor of the paper's ViT-B (6 blocks)
* a CLS token in the encoders, the representation: the target encoder's CLS features (the paper: its average-pooled patch tokens)
* EMA momentum on the cosine schedule (the paper: linear 0.996 -> 1); constant weight decay (the paper: 0.04 -> 0.4)
* learned predictor position embeddings (the paper: fixed sine-cosine); MSE (the official code: smooth L1)
* horizontal flips in the crops (the paper: crops only)
"""
from keras_contrastive import recipes

recipes.define_flags("ijepa")

if __name__ == "__main__":
    recipes.main("ijepa")
