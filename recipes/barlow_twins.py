"""Barlow Twins with keras-contrastive: pretrain, evaluate, export.

Zbontar, Jing, Misra, LeCun, Deny: Barlow Twins (ICML 2021).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/barlow_twins.py --preset cpu_small --epochs 5
    python recipes/barlow_twins.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/barlow_twins.py --help`` lists every flag.

===============  ===================================================  ================================================
setting          --preset paper                                       --preset cpu_small
===============  ===================================================  ================================================
data             imagenet2012                                         fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                    ResNet-18 width 16, cifar stem
epochs x batch   1000 x 2048                                          5 x 256
optimizer        LARS, lr 1.6, wd 1.5e-06, 10 warm-up epochs, cosine  LARC, lr 0.3, wd 0.0001, 1 warm-up epoch, cosine
views            224 px crops 0.08-1, jitter 0.5, blur 0.5            native-size crops 0.2-1, jitter 0.5
model arguments  hidden_dim=8192, lambda_=0.005, projection_dim=8192  protocol (MethodSpec.protocol)
paper's result   73.2 % linear top-1 (ResNet-50, 1000 epochs)         BENCHMARKS.md
===============  ===================================================  ================================================

Departures from the paper:

* both views get blur with probability 0.5 (the paper: 1.0 on one view, 0.1 and solarization 0.2 on the other)
* one learning rate for weights and biases (the paper: 0.2 and 0.0048 x batch / 256)
"""
from keras_contrastive import recipes

recipes.define_flags("barlow_twins")

if __name__ == "__main__":
    recipes.main("barlow_twins")
