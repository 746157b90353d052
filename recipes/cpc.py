"""CPC with keras-contrastive: pretrain, evaluate, export.

van den Oord, Li, Vinyals: Representation Learning with Contrastive Predictive Coding (arXiv 2018).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/cpc.py --preset cpu_small --epochs 5
    python recipes/cpc.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/cpc.py --help`` lists every flag.

===============  =================================================  ===================================
setting          --preset paper                                     --preset cpu_small
===============  =================================================  ===================================
data             imagenet2012                                       fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                  ResNet-18 width 16, cifar stem
epochs x batch   100 x 512                                          5 x 256
optimizer        ADAM, lr 0.0002, wd 0, cosine                      ADAM, lr 0.0002, wd 0, cosine
views            256 px crops 0.5-1, jitter 0.5                     native-size crops 0.2-1, jitter 0.5
model arguments  context=masked_conv, grid=7, prediction_steps=5    protocol (MethodSpec.protocol)
paper's result   48.7 % linear top-1 (ResNet-v2-101 patch encoder)  BENCHMARKS.md
===============  =================================================  ===================================

Departures from the paper:

* ResNet-50 patch encoder in place of the paper's ResNet-v2-101
* 7x7 grid of 64-px patches with 32-px overlap on 256 px images, as in the paper
"""
from keras_contrastive import recipes

recipes.define_flags("cpc")

if __name__ == "__main__":
    recipes.main("cpc")
