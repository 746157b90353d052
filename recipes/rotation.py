"""RotNet with keras-contrastive: pretrain, evaluate, export.

Gidaris, Singh, Komodakis: Unsupervised Representation Learning by Predicting Image Rotations (ICLR 2018).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/rotation.py --preset cpu_small --epochs 5
    python recipes/rotation.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/rotation.py --help`` lists every flag.

===============  ========================================================  ===================================
setting          --preset paper                                            --preset cpu_small
===============  ========================================================  ===================================
data             imagenet2012                                              fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                         ResNet-18 width 16, cifar stem
epochs x batch   30 x 192                                                  5 x 256
optimizer        SGD, lr 0.1, wd 0.0005, cosine                            SGD, lr 0.06, wd 0.0005, cosine
views            224 px crops 0.08-1                                       native-size crops 0.2-1, jitter 0.5
model arguments  protocol (MethodSpec.protocol)                            protocol (MethodSpec.protocol)
paper's result   38.7 % ImageNet linear top-1 on AlexNet's conv3 features  BENCHMARKS.md
===============  ========================================================  ===================================

Departures from the paper:

* ResNet-50 in place of the paper's AlexNet: linear figures are not comparable with the paper's layer-wise ones
* cosine learning-rate decay in place of the paper's step schedule
"""
from keras_contrastive import recipes

recipes.define_flags("rotation")

if __name__ == "__main__":
    recipes.main("rotation")
