"""LeOCLR with keras-contrastive: pretrain, evaluate, export.

Alkhalefi, Leontidis, Zhong: LeOCLR: Leveraging Original Images for Contrastive Learning of Visual Representations (TMLR 2024).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/leoclr.py --preset cpu_small --epochs 5
    python recipes/leoclr.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/leoclr.py --help`` lists every flag.

===============  ==========================================================  ===================================
setting          --preset paper                                              --preset cpu_small
===============  ==========================================================  ===================================
data             imagenet2012                                                fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                           ResNet-18 width 16, cifar stem
epochs x batch   800 x 256                                                   5 x 256
optimizer        SGD, lr 0.03, wd 0.0001, cosine                             SGD, lr 0.06, wd 0.0005, cosine
views            224 px crops 0.2-1, jitter 0.5, blur 0.5                    native-size crops 0.2-1, jitter 0.5
temperature      0.2                                                         0.1
model arguments  hidden_dim=2048, queue_size=65536                           protocol (MethodSpec.protocol)
paper's result   76.2 % linear top-1 (ResNet-50, 800 epochs; 71.7 % at 200)  BENCHMARKS.md
===============  ==========================================================  ===================================
"""
from keras_contrastive import recipes

recipes.define_flags("leoclr")

if __name__ == "__main__":
    recipes.main("leoclr")
