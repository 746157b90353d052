"""The random-crop test (LeOCLR Table 6) on a classifier trained on Fashion-MNIST."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.evaluation import random_crop_test


def _pixels():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])


def _trained_classifier(fashion_mnist_train):
    images, labels = fashion_mnist_train
    keras.utils.set_random_seed(0)
    classifier = keras.layers.Dense(10)
    model = keras.Sequential([_pixels(), classifier])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images / 255.0, labels, batch_size=64, epochs=3, verbose=0)
    return classifier


def test_whole_image_crops_give_the_plain_accuracy(fashion_mnist_train, fashion_mnist_test):
    classifier = _trained_classifier(fashion_mnist_train)
    images, labels = fashion_mnist_test
    plain = float(np.mean(np.argmax(classifier(_pixels()(images / 255.0)), 1) == labels))
    result = random_crop_test(_pixels(), classifier, fashion_mnist_test, crop_scale=(1.0, 1.0),
                              center_fraction=1.0)
    # a crop of the whole area at aspect ratio 3/4-4/3 is the whole image only at ratio 1,
    # so only the centre crop is exactly the plain evaluation here
    assert result["center_crop_acc"] == pytest.approx(plain)
    assert plain > 0.7


def test_random_crops_cost_a_pixel_classifier_accuracy_and_are_seeded(fashion_mnist_train,
                                                                       fashion_mnist_test):
    classifier = _trained_classifier(fashion_mnist_train)
    result = random_crop_test(_pixels(), classifier, fashion_mnist_test, seed=3)
    assert result["random_crop_acc"] < result["center_crop_acc"] - 0.1
    assert result["drop"] == pytest.approx(result["center_crop_acc"] - result["random_crop_acc"])
    again = random_crop_test(_pixels(), classifier, fashion_mnist_test, seed=3)
    assert again == result
    # the centre crop is the central round(0.875 * 28) = 24 pixels resized back, by hand
    images, labels = fashion_mnist_test
    x = images.astype("float32") / 255.0
    center = tf.image.resize(x[:, 2:26, 2:26, :], (28, 28)).numpy()
    by_hand = float(np.mean(np.argmax(classifier(_pixels()(center)), 1) == labels))
    assert result["center_crop_acc"] == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="center_fraction"):
        random_crop_test(_pixels(), classifier, fashion_mnist_test, center_fraction=0.0)
