"""Context encoder with keras-contrastive: pretrain, evaluate, export.

Pathak, Krahenbuhl, Donahue, Darrell, Efros: Context Encoders: Feature Learning by Inpainting (CVPR 2016).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/inpainting.py --preset cpu_small --epochs 5
    python recipes/inpainting.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/inpainting.py --help`` lists every flag.

===============  =================================================================  ===================================
setting          --preset paper                                                     --preset cpu_small
===============  =================================================================  ===================================
data             imagenet2012                                                       fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                                  ResNet-18 width 16, cifar stem
epochs x batch   100 x 64                                                           5 x 256
optimizer        ADAM, lr 0.0002, wd 0, cosine                                      SGD, lr 0.06, wd 0.0005, cosine
views            128 px crops 0.08-1                                                native-size crops 0.2-1, jitter 0.5
model arguments  mask_fraction=0.5, region=random                                   protocol (MethodSpec.protocol)
paper's result   56.5 % mAP on PASCAL VOC 2007 classification (fine-tuned AlexNet)  BENCHMARKS.md
===============  =================================================================  ===================================

Departures from the paper:

* a reconstruction loss only (the paper adds an adversarial term, weight 0.001)
* square masks at random positions (the paper's best: random regions of any shape)
* ResNet-50 in place of the paper's AlexNet: linear figures are not comparable with the paper's layer-wise ones
"""
from keras_contrastive import recipes

recipes.define_flags("inpainting")

if __name__ == "__main__":
    recipes.main("inpainting")
