"""Colorization with keras-contrastive: pretrain, evaluate, export.

Zhang, Isola, Efros: Colorful Image Colorization (ECCV 2016).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/colorization.py --preset cpu_small --epochs 5
    python recipes/colorization.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/colorization.py --help`` lists every flag.

===============  =========================================================  ===================================
setting          --preset paper                                             --preset cpu_small
===============  =========================================================  ===================================
data             imagenet2012                                               fashion_mnist_tinted
backbone         ResNet-50 width 64, imagenet stem                          ResNet-18 width 16, cifar stem
epochs x batch   15 x 40                                                    5 x 256
optimizer        ADAM, lr 3e-05, wd 0, cosine                               SGD, lr 0.06, wd 0.0005, cosine
views            224 px crops 0.08-1                                        native-size crops 0.2-1, jitter 0.5
model arguments  protocol (MethodSpec.protocol)                             protocol (MethodSpec.protocol)
paper's result   65.9 % mAP on PASCAL VOC 2007 classification (fine-tuned)  BENCHMARKS.md
===============  =========================================================  ===================================

Departures from the paper:

* regression of the ab channels (the paper classifies 313 ab bins with class rebalancing)
* ResNet-50 in place of the paper's VGG-style network
"""
from keras_contrastive import recipes

recipes.define_flags("colorization")

if __name__ == "__main__":
    recipes.main("colorization")
