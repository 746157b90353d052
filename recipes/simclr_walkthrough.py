"""SimCLR (Chen et al. 2020) with keras-contrastive, every step spelled out.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/simclr_walkthrough.py --epochs 5 --export saved_models/simclr_walkthrough

Every step is the public API: data -> views -> encoder -> SimCLR ->
``model.fit`` (with a kNN monitor) -> kNN / linear probe -> SavedModel.
Defaults are the library's Fashion-MNIST quality protocol (BENCHMARKS.md):
``resnet18(width=16, stem="cifar")``, batch 256, SGD momentum 0.9,
lr 0.06 * B / 256 with cosine decay, weight decay 5e-4.

==========================  ===============================  ============
setting                     SimCLR paper (ImageNet)          this recipe
==========================  ===============================  ============
encoder                     ResNet-50 (width 64)             ResNet-18, width 16
batch                       4096                             256
optimizer                   LARS, lr 0.3 * B / 256, wd 1e-6  SGD, lr 0.06 * B / 256, wd 5e-4
temperature                 0.1 (0.5 at small batch)         --temperature
projection head             2048 -> 128                      feature width -> 128
linear top-1 (100 epochs)   64.5 % (ResNet-50, 4096 batch)   see BENCHMARKS.md
==========================  ===============================  ============
"""
from absl import flags

from keras_contrastive import recipes

flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist, an image folder, or a TFDS name")
flags.DEFINE_integer("epochs", 5, "pretraining epochs")
flags.DEFINE_integer("batch_size", 256, "view pairs per step (global batch)")
flags.DEFINE_integer("width", 16, "ResNet-18 width (64 is the standard network)")
flags.DEFINE_float("temperature", 0.1, "NT-Xent temperature")
flags.DEFINE_float("learning_rate", None, "peak SGD rate (default 0.06 * batch / 256)")
flags.DEFINE_integer("train_subset", None, "pretrain on the first N training images")
flags.DEFINE_integer("eval_subset", 10_000, "labelled train images for the kNN memory and probe")
flags.DEFINE_string("export", None, "write the encoder to DIR/1/ (TF Serving layout)")
flags.DEFINE_integer("seed", 0, "global seed")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_contrastive as kc
    from keras_contrastive import backbones, evaluation, export, models, views
    from keras_contrastive.callbacks import KNNMonitor
    from keras_contrastive.pretraining import load_labelled

    keras.utils.set_random_seed(FLAGS.seed)
    train_images, train_labels = load_labelled(FLAGS.dataset, "train")
    test_images, test_labels = load_labelled(FLAGS.dataset, "test")
    pretrain_images = train_images[: FLAGS.train_subset]
    memory = (train_images[: FLAGS.eval_subset], train_labels[: FLAGS.eval_subset])
    queries = (test_images, test_labels)
    size, _, channels = pretrain_images.shape[1:]

    # 1. views: two augmented crops of every image, batched
    augment = views.simclr_augment(size, channels=channels, strength=0.5, crop_scale=(0.2, 1.0),
                                   seed=FLAGS.seed)
    pairs = views.make_views(tf.data.Dataset.from_tensor_slices(pretrain_images), augment,
                             batch_size=FLAGS.batch_size, seed=FLAGS.seed)

    # 2. encoder + objective
    encoder = backbones.resnet18((size, size, channels), width=FLAGS.width, stem="cifar")
    model = models.SimCLR(encoder, projection_dim=128, temperature=FLAGS.temperature)

    # 3. optimizer and model.fit
    steps = len(pretrain_images) // FLAGS.batch_size
    peak = FLAGS.learning_rate or 0.06 * FLAGS.batch_size / 256
    schedule = keras.optimizers.schedules.CosineDecay(peak, decay_steps=FLAGS.epochs * steps)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=5e-4))
    model.fit(pairs, epochs=FLAGS.epochs,
              callbacks=[KNNMonitor(memory, (test_images[:2000], test_labels[:2000]))])

    # 4. frozen-feature evaluation of the representation (for SimCLR: the encoder)
    features = model.feature_extractor()
    knn = evaluation.knn_accuracy(features, memory, queries)
    linear = evaluation.linear_probe(features, memory, queries)
    print(f"keras-contrastive {kc.__version__} SimCLR: kNN acc {knn:.4f}, linear acc {linear:.4f}")

    # 5. export for TF Serving / fine-tuning (export.load_encoder reads it back)
    if FLAGS.export:
        path = export.export_encoder(model, FLAGS.export, overwrite=True)
        print(f"encoder exported to {path}")


if __name__ == "__main__":
    recipes.run_script(main, "simclr_walkthrough")
