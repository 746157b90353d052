"""DINO with keras-contrastive: pretrain, evaluate, export.

Caron et al.: Emerging Properties in Self-Supervised Vision Transformers (ICCV 2021).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/dino.py --preset cpu_small --epochs 5
    python recipes/dino.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/dino.py --help`` lists every flag.

===============  ====================================================================================================================================================================================================================  ==============================================
setting          --preset paper                                                                                                                                                                                                        --preset cpu_small
===============  ====================================================================================================================================================================================================================  ==============================================
data             imagenet2012                                                                                                                                                                                                          fashion_mnist
backbone         ResNet-50 width 64, imagenet stem                                                                                                                                                                                     ResNet-18 width 16, cifar stem
epochs x batch   800 x 1024                                                                                                                                                                                                            5 x 256
optimizer        SGD, lr 0.12, wd 0.0001, 10 warm-up epochs, cosine                                                                                                                                                                    SGD, lr 0.5, wd 1e-05, 1 warm-up epoch, cosine
views            224 px crops 0.14-1 + 6 local x 96 px, jitter 0.5, blur 0.5                                                                                                                                                           native-size crops 0.2-1, jitter 0.5
model arguments  bottleneck_dim=256, freeze_last_layer_epochs=1, hidden_dim=2048, momentum=0.996, out_dim=65536, teacher_temperature=0.07, use_bn_in_head=True, warmup_teacher_temperature=0.04, warmup_teacher_temperature_epochs=30  protocol (MethodSpec.protocol)
paper's result   75.3 % linear top-1, 67.5 % kNN (ResNet-50; 77.0 % / 74.5 % with ViT-S/16)                                                                                                                                            BENCHMARKS.md
===============  ====================================================================================================================================================================================================================  ==============================================

Departures from the paper:

* the ResNet-50 setup of the official code (SGD, BN in the head, crops 0.14-1 and 0.05-0.14); the paper's table does not state its epochs (800 here)
* the paper's headline, ViT-S/16 (77.0 % / 74.5 %, AdamW), is not this preset: backbone='vit_small' with optimizer='adamw' builds it
"""
from keras_contrastive import recipes

recipes.define_flags("dino")

if __name__ == "__main__":
    recipes.main("dino")
