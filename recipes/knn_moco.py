"""kNN-MoCo with keras-contrastive: pretrain, evaluate, export.

Van Gansbeke, Vandenhende, Georgoulis, Van Gool: Revisiting Contrastive Methods for Unsupervised Learning of Visual Representations (NeurIPS 2021).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/knn_moco.py --preset cpu_small --epochs 5
    python recipes/knn_moco.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/knn_moco.py --help`` lists every flag.

===============  ==================================================================================================================================  ===================================
setting          --preset paper                                                                                                                      --preset cpu_small
===============  ==================================================================================================================================  ===================================
data             imagenet2012                                                                                                                        fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                                                                                                   ResNet-18 width 16, cifar stem
epochs x batch   200 x 256                                                                                                                           5 x 256
optimizer        SGD, lr 0.3, wd 0.0001, cosine                                                                                                      SGD, lr 0.06, wd 0.0005, cosine
views            160 px crops 0.2-1 + 4 local x 96 px (>= 20% in the key crop), A+, jitter 0.5, blur 0.5                                             native-size crops 0.2-1, jitter 0.5
temperature      0.2                                                                                                                                 0.1
model arguments  hidden_dim=2048, k=20, nn_weight=0.4, queue_size=65536, warmup_epochs=5                                                             protocol (MethodSpec.protocol)
paper's result   55.9 % ImageNet linear top-1 and 71.9 mIoU VOC segmentation after 200 epochs on COCO (Table 4; 56.1 % and 73.5 after 800, Table 9)  BENCHMARKS.md
===============  ==================================================================================================================================  ===================================

Departures from the paper:

* the paper pretrains on COCO, whose images have no class labels: pass --dataset for the pretraining data; the recipe evaluates on that data set's labels
* the lowered key momentum is 0.995 (the library's KNNMoCo default)
"""
from keras_contrastive import recipes

recipes.define_flags("knn_moco")

if __name__ == "__main__":
    recipes.main("knn_moco")
