"""DenseCL with keras-contrastive: pretrain, evaluate, export.

Wang, Zhang, Shen, Kong, Li: Dense Contrastive Learning for Self-Supervised Visual Pre-Training (CVPR 2021).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/densecl.py --preset cpu_small --epochs 5
    python recipes/densecl.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/densecl.py --help`` lists every flag.

===============  ===================================================================================================  ===================================
setting          --preset paper                                                                                       --preset cpu_small
===============  ===================================================================================================  ===================================
data             imagenet2012                                                                                         fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                                                                    ResNet-18 width 16, cifar stem
epochs x batch   200 x 256                                                                                            5 x 256
optimizer        SGD, lr 0.03, wd 0.0001, cosine                                                                      SGD, lr 0.06, wd 0.0005, cosine
views            224 px crops 0.2-1, jitter 0.5, blur 0.5                                                             native-size crops 0.2-1, jitter 0.5
temperature      0.2                                                                                                  0.1
model arguments  dense_weight=0.5, hidden_dim=2048, queue_size=65536                                                  protocol (MethodSpec.protocol)
paper's result   +2.0 AP on VOC detection and +3.0 % mIoU on VOC segmentation over MoCo-v2 (ResNet-50; the abstract)  BENCHMARKS.md
===============  ===================================================================================================  ===================================

Departures from the paper:

* the dense loss from the first step (the authors' code: lambda 0 for the first 1000 iterations)
"""
from keras_contrastive import recipes

recipes.define_flags("densecl")

if __name__ == "__main__":
    recipes.main("densecl")
