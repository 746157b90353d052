"""Tests of keras_contrastive/data/tfds.py with a real, locally prepared TFDS builder."""
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_contrastive.data import from_tfds, load_fashion_mnist_arrays

_TINY = 50


class KcTinyFashion(tfds.core.GeneratorBasedBuilder):
    """The first 50 Fashion-MNIST training examples as a TFDS data set "kc_tiny_fashion"."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                    "index": tf.int32,
                }
            )
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        images, labels = load_fashion_mnist_arrays("train")
        for index in range(_TINY):
            yield index, {"image": images[index], "label": labels[index], "index": index}


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    KcTinyFashion(data_dir=data_dir).download_and_prepare()
    return data_dir


def _sorted_pairs(pairs):
    return sorted((int(label), image.tobytes()) for image, label in pairs)


def test_from_tfds_yields_the_exact_images_and_labels_that_were_prepared(tiny_data_dir):
    ds = from_tfds("kc_tiny_fashion", data_dir=tiny_data_dir)
    assert ds.element_spec == (tf.TensorSpec([28, 28, 1], tf.uint8), tf.TensorSpec([], tf.int64))
    got = [(image.numpy(), label.numpy()) for image, label in ds]
    assert len(got) == _TINY
    images, labels = load_fashion_mnist_arrays("train")
    # TFDS may store examples in another order, so compare as multisets.
    assert _sorted_pairs(got) == _sorted_pairs(zip(images[:_TINY], labels[:_TINY]))


def test_images_only_and_split_slices(tiny_data_dir):
    ds = from_tfds("kc_tiny_fashion", split="train[:10]", data_dir=tiny_data_dir, with_labels=False)
    assert ds.element_spec == tf.TensorSpec([28, 28, 1], tf.uint8)
    assert len(list(ds)) == 10


def test_unknown_dataset_raises_naming_it():
    with pytest.raises(ValueError, match="no data set named 'kc_no_such_set'"):
        from_tfds("kc_no_such_set")


def test_unprepared_dataset_without_download_raises_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="'kc_tiny_fashion' is not prepared.*download=True"):
        from_tfds("kc_tiny_fashion", data_dir=str(tmp_path))


def test_missing_or_unsuitable_features_raise_naming_them(tiny_data_dir):
    with pytest.raises(ValueError, match=r"no feature 'img'.*\['image', 'index', 'label'\]"):
        from_tfds("kc_tiny_fashion", data_dir=tiny_data_dir, image_key="img")
    with pytest.raises(ValueError, match="no feature 'class'.*with_labels=False"):
        from_tfds("kc_tiny_fashion", data_dir=tiny_data_dir, label_key="class")
    with pytest.raises(ValueError, match="'index' .* not a uint8"):
        from_tfds("kc_tiny_fashion", data_dir=tiny_data_dir, image_key="index")
    with pytest.raises(ValueError, match="split 'validation'.*'train'"):
        from_tfds("kc_tiny_fashion", split="validation", data_dir=tiny_data_dir)


def test_any_integer_feature_can_be_the_label(tiny_data_dir):
    ds = from_tfds("kc_tiny_fashion", data_dir=tiny_data_dir, label_key="index")
    indices = sorted(int(label) for _, label in ds)
    assert indices == list(range(_TINY))
