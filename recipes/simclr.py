"""SimCLR with keras-contrastive: pretrain, evaluate, export.

Chen, Kornblith, Norouzi, Hinton: A Simple Framework for Contrastive Learning of Visual Representations (ICML 2020).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/simclr.py --preset cpu_small --epochs 5
    python recipes/simclr.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/simclr.py --help`` lists every flag.

===============  ========================================================  ===================================
setting          --preset paper                                            --preset cpu_small
===============  ========================================================  ===================================
data             imagenet2012                                              fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                         ResNet-18 width 16, cifar stem
epochs x batch   1000 x 4096                                               5 x 256
optimizer        LARS, lr 4.8, wd 1e-06, 10 warm-up epochs, cosine         SGD, lr 0.06, wd 0.0005, cosine
views            224 px crops 0.08-1, jitter 1, blur 0.5                   native-size crops 0.2-1, jitter 0.5
temperature      0.1                                                       0.1
model arguments  hidden_dim=2048                                           protocol (MethodSpec.protocol)
paper's result   69.3 % linear top-1 (ResNet-50, 1000 epochs, batch 4096)  BENCHMARKS.md
===============  ========================================================  ===================================
"""
from keras_contrastive import recipes

recipes.define_flags("simclr")

if __name__ == "__main__":
    recipes.main("simclr")
