"""SimSiam with keras-contrastive: pretrain, evaluate, export.

Chen, He: Exploring Simple Siamese Representation Learning (CVPR 2021).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/simsiam.py --preset cpu_small --epochs 5
    python recipes/simsiam.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/simsiam.py --help`` lists every flag.

===============  ==========================================================  ==============================================
setting          --preset paper                                              --preset cpu_small
===============  ==========================================================  ==============================================
data             imagenet2012                                                fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                           ResNet-18 width 16, cifar stem
epochs x batch   100 x 512                                                   5 x 256
optimizer        SGD, lr 0.1, wd 0.0001, cosine                              SGD, lr 0.5, wd 1e-05, 1 warm-up epoch, cosine
views            224 px crops 0.2-1, jitter 0.5, blur 0.5                    native-size crops 0.2-1, jitter 0.5
model arguments  predictor_dim=512, projection_dim=2048                      protocol (MethodSpec.protocol)
paper's result   68.1 % linear top-1 (ResNet-50, 100 epochs; 71.3 % at 800)  BENCHMARKS.md
===============  ==========================================================  ==============================================
"""
from keras_contrastive import recipes

recipes.define_flags("simsiam")

if __name__ == "__main__":
    recipes.main("simsiam")
