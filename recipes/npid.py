"""NPID with keras-contrastive: pretrain, evaluate, export.

Wu, Xiong, Yu, Lin: Unsupervised Feature Learning via Non-Parametric Instance Discrimination (CVPR 2018).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/npid.py --preset cpu_small --epochs 5
    python recipes/npid.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/npid.py --help`` lists every flag.

===============  ==============================================================================  ===================================
setting          --preset paper                                                                  --preset cpu_small
===============  ==============================================================================  ===================================
data             imagenet2012                                                                    fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                                               ResNet-18 width 16, cifar stem
epochs x batch   200 x 256                                                                       5 x 256
optimizer        SGD, lr 0.03, wd 0.0001, cosine                                                 SGD, lr 0.06, wd 0.0005, cosine
views            224 px crops 0.2-1, jitter 0.5                                                  native-size crops 0.2-1, jitter 0.5
temperature      0.07                                                                            0.1
model arguments  momentum=0.5                                                                    protocol (MethodSpec.protocol)
paper's result   54.0 % linear top-1 (ResNet-50 conv5, 200 epochs, NCE with 4096 noise samples)  BENCHMARKS.md
===============  ==============================================================================  ===================================

Departures from the paper:

* the full softmax over the bank in place of NCE with 4096 noise samples
* two views per image, each a query and a visit of the bank (the paper: one)
* cosine learning-rate decay in place of the paper's step schedule
"""
from keras_contrastive import recipes

recipes.define_flags("npid")

if __name__ == "__main__":
    recipes.main("npid")
