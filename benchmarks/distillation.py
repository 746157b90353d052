"""Distillation against SimCLR at equal compute on Fashion-MNIST (issue 29).

A teacher the library pretrains itself (SimCLR, a wide small_cnn) is distilled into a
narrow small_cnn student; the same student, from the same initial weights, is trained by
SimCLR on the same views for the same number of steps.  kNN accuracy on held-out test
images, each against the student's random init, for several seeds.

    python benchmarks/distillation.py --seeds 0 1 2 > benchmarks/results/distillation.log
"""
import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, models, views
from keras_contrastive.data import load_fashion_mnist_arrays
from keras_contrastive.evaluation import knn_accuracy

TEACHER_FILTERS, STUDENT_FILTERS = (32, 64, 128), (8, 16, 32)


def view_data(images, batch_size, seed):
    """Two SimCLR-style crops of each of ``images`` (uint8, 28x28x1), repeated."""
    augment = views.simclr_augment(28, channels=1, strength=0.5, crop_scale=(0.2, 1.0),
                                   grayscale_prob=0.0, seed=seed)
    return views.make_views(tf.data.Dataset.from_tensor_slices(images), augment,
                            batch_size=batch_size, seed=seed).repeat()


def pretrain_teacher(images, steps, seed=0, batch_size=128):
    """The teacher's encoder after ``steps`` SimCLR steps on ``images`` (frozen later)."""
    keras.utils.set_random_seed(seed)
    teacher = models.SimCLR(backbones.small_cnn((28, 28, 1), filters=TEACHER_FILTERS,
                                                name="teacher"), temperature=0.2)
    teacher.compile(optimizer=keras.optimizers.Adam(2e-3))
    teacher.fit(view_data(images, batch_size, seed + 100), steps_per_epoch=steps, verbose=0)
    return teacher.encoder


def student_runs(teacher, images, steps, seed=0, batch_size=128):
    """``{"distilled": encoder, "simclr": encoder, "init": weights}``: one student
    initialisation trained both ways on the same views for ``steps`` steps."""
    keras.utils.set_random_seed(seed)
    student = backbones.small_cnn((28, 28, 1), filters=STUDENT_FILTERS, name="student")
    init = student.get_weights()
    out = {"init": init}
    for name in ("distilled", "simclr"):
        encoder = keras.models.clone_model(student)
        encoder.set_weights(init)
        model = (models.Distillation(encoder, teacher, hidden_dim=128) if name == "distilled"
                 else models.SimCLR(encoder, temperature=0.2))
        # each method's better rate of 2e-3 and 5e-3 (measured, seed 0, 30 and 100 steps)
        model.compile(optimizer=keras.optimizers.Adam(5e-3 if name == "distilled" else 2e-3))
        model.fit(view_data(images, batch_size, seed), steps_per_epoch=steps, verbose=0)
        out[name] = encoder
    return out


def knn_row(runs, memory, queries):
    """kNN accuracy (k=20) of the init, distilled and SimCLR students."""
    init = keras.models.clone_model(runs["distilled"])
    init.set_weights(runs["init"])
    encoders = {"init": init, "distilled": runs["distilled"], "simclr": runs["simclr"]}
    return {name: knn_accuracy(e, memory, queries, k=20) for name, e in encoders.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher-steps", type=int, default=300)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--train-images", type=int, default=5000)
    args = parser.parse_args(argv)
    train, labels = load_fashion_mnist_arrays("train")
    test, test_labels = load_fashion_mnist_arrays("test")
    images = train[:args.train_images]
    memory, queries = (train[-5000:], labels[-5000:]), (test[:2000], test_labels[:2000])
    start = time.time()
    teacher = pretrain_teacher(images, args.teacher_steps)
    print(f"teacher: small_cnn{TEACHER_FILTERS} SimCLR {args.teacher_steps} steps, "
          f"kNN {knn_accuracy(teacher, memory, queries, k=20):.4f} "
          f"({time.time() - start:.0f} s)", flush=True)
    rows = []
    for seed in args.seeds:
        row = knn_row(student_runs(teacher, images, args.steps, seed), memory, queries)
        rows.append(row)
        print(f"seed {seed}: student small_cnn{STUDENT_FILTERS} {args.steps} steps: "
              + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    for name in ("init", "distilled", "simclr"):
        values = np.array([r[name] for r in rows])
        print(f"{name}: {values.mean():.4f} +- {values.std(ddof=1) if len(values) > 1 else 0:.4f}")
    gains = np.array([r["distilled"] - r["simclr"] for r in rows])
    print(f"distilled - simclr: {gains.mean():+.4f} +- "
          f"{gains.std(ddof=1) if len(gains) > 1 else 0:.4f}")


if __name__ == "__main__":
    main()
