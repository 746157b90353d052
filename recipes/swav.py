"""SwAV with keras-contrastive: pretrain, evaluate, export.

Caron, Misra, Mairal, Goyal, Bojanowski, Joulin: Unsupervised Learning of Visual Features by Contrasting Cluster Assignments (NeurIPS 2020).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/swav.py --preset cpu_small --epochs 5
    python recipes/swav.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/swav.py --help`` lists every flag.

===============  =====================================================================================================  ==============================================
setting          --preset paper                                                                                         --preset cpu_small
===============  =====================================================================================================  ==============================================
data             imagenet2012                                                                                           fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                                                                      ResNet-18 width 16, cifar stem
epochs x batch   800 x 4096                                                                                             5 x 256
optimizer        LARS, lr 4.8, wd 1e-06, 10 warm-up epochs, cosine                                                      SGD, lr 0.5, wd 1e-05, 1 warm-up epoch, cosine
views            224 px crops 0.14-1 + 6 local x 96 px, jitter 1, blur 0.5                                              native-size crops 0.2-1, jitter 0.5
temperature      0.1                                                                                                    0.1
model arguments  epsilon=0.05, freeze_prototypes_epochs=1, hidden_dim=2048, num_prototypes=3000, sinkhorn_iterations=3  protocol (MethodSpec.protocol)
paper's result   75.3 % linear top-1 (ResNet-50, 800 epochs, 2x224 + 6x96 crops)                                        BENCHMARKS.md
===============  =====================================================================================================  ==============================================

Departures from the paper:

* local crops of 5-14 % of the area (the library's multi-crop range)
"""
from keras_contrastive import recipes

recipes.define_flags("swav")

if __name__ == "__main__":
    recipes.main("swav")
