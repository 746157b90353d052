import keras
import numpy as np
import pytest

from keras_contrastive import backbones


@pytest.mark.parametrize("stem,size", [("cifar", 28), ("imagenet", 64)])
def test_resnet18_width_scales_feature_dim_and_parameter_count(stem, size):
    small = backbones.resnet18((size, size, 1), width=8, stem=stem)
    large = backbones.resnet18((size, size, 1), width=16, stem=stem)
    assert small.output_shape == (None, 64)
    assert large.output_shape == (None, 128)
    # conv weights scale with width squared
    assert 3.5 < large.count_params() / small.count_params() < 4.1


def test_resnet18_at_width_64_has_the_standard_parameter_count():
    # torchvision's resnet18 without the fc layer: 11,176,512 parameters
    # (ImageNet stem, 3 input channels); Keras counts BN moving stats too.
    model = backbones.resnet18((224, 224, 3), width=64, stem="imagenet")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 11_176_512


def test_resnet50_at_width_64_has_the_standard_parameter_count():
    # torchvision's resnet50 without fc: 23,508,032 trainable parameters.
    model = backbones.resnet50((224, 224, 3), width=64, stem="imagenet")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 23_508_032
    assert model.output_shape == (None, 2048)


def test_cifar_stem_keeps_resolution_until_stage_two():
    model = backbones.resnet18((28, 28, 1), width=8, stem="cifar")
    assert model.get_layer("stage1_block2_out").output.shape[1:3] == (28, 28)
    assert model.get_layer("stage4_block2_out").output.shape[1:3] == (4, 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (28, 28, 1), "width": 0}, "width"),
        ({"input_shape": (28, 28, 1), "stem": "tiny"}, "stem"),
    ],
)
def test_bad_arguments_are_rejected_with_their_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        backbones.resnet18(**kwargs)


def test_keras_application_becomes_a_pooled_encoder():
    net = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None,
        include_preprocessing=False)
    encoder = backbones.as_encoder(net)
    features = encoder(np.random.rand(2, 32, 32, 3).astype("float32"))
    assert features.shape[0] == 2 and len(features.shape) == 2
