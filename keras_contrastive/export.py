"""Export a trained encoder as a TF Serving SavedModel, and load it back.

Layout (what TF Serving's model server watches)::

    path/
      1/                 <- version directory, returned by export_encoder
        saved_model.pb   <- signature "serving_default":
        variables/          {"images": float32 [None, H, W, C] in [0, 1]}
                            -> {"embedding": float32 [None, D]}

The encoder is called with ``training=False`` (BatchNormalization uses its
moving statistics).  Models whose variables were created under a
``tf.distribute`` strategy (e.g. ``MirroredStrategy``) export the same way:
the SavedModel holds one copy of each variable.
"""
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

__all__ = ["export_encoder", "load_encoder"]

SIGNATURE_NAME = "serving_default"
INPUT_NAME = "images"
OUTPUT_NAME = "embedding"


def _resolve_encoder(model_or_encoder):
    encoder = getattr(model_or_encoder, "encoder", None)
    if encoder is None:
        encoder = model_or_encoder
    if not isinstance(encoder, keras.layers.Layer):
        raise TypeError(
            "`model_or_encoder` must be a keras.Model (the encoder) or an object with an `.encoder` "
            f"keras.Model attribute; got {type(model_or_encoder).__name__}."
        )
    return encoder


def _image_shape(encoder, input_shape):
    if input_shape is None:
        try:
            inputs = encoder.inputs
        except (AttributeError, ValueError):
            inputs = None
        if not inputs or len(inputs) != 1:
            raise ValueError(
                f"Cannot infer the input shape of encoder {encoder.name!r} (it has no single "
                "symbolic input); pass input_shape=(H, W, C)."
            )
        input_shape = tuple(inputs[0].shape)[1:]
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise ValueError(
            f"The encoder input must be images [H, W, C] with a known number of channels C; got "
            f"input_shape={input_shape}."
        )
    return input_shape


def check_export_path(path, version=1, overwrite=False):
    """The version directory ``path/<version>``; raises if writing it is refused.

    Raises ``FileExistsError`` when it exists and ``overwrite`` is False, and
    ``NotADirectoryError`` when ``path`` is a file.  Call it before a long
    training run to fail early; ``export_encoder`` calls it too.
    """
    path = os.fspath(path)
    version_dir = os.path.join(path, str(int(version)))
    if os.path.exists(version_dir) and not overwrite:
        raise FileExistsError(
            f"{version_dir} already exists; pass overwrite=True to replace it or choose another `version`."
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"`path` {path} exists and is not a directory.")
    return version_dir


def export_encoder(model_or_encoder, path, version=1, overwrite=False, input_shape=None):
    """Write the encoder as a SavedModel in TF Serving layout ``path/<version>/``.

    The ``serving_default`` signature takes ``images`` (float32
    ``[None, H, W, C]`` in [0, 1]) and returns ``{"embedding": float32
    [None, D]}``.  The SavedModel is written to a temporary directory inside
    ``path`` and then renamed, so a server watching ``path`` never sees a
    half-written version.

    Args:
        model_or_encoder: a trained model with an ``.encoder`` attribute (such
            as a ``ContrastiveModel``; its encoder is exported) or the encoder
            ``keras.Model`` itself.
        path: base directory of the servable (created if missing).
        version: non-negative integer version; the SavedModel goes to
            ``path/<version>``.
        overwrite: replace an existing ``path/<version>``; otherwise an
            existing version directory raises ``FileExistsError``.
        input_shape: ``(H, W, C)`` of the images; needed only when the
            encoder has no symbolic input (a subclassed model).  ``H`` and
            ``W`` may be ``None`` for a fully convolutional encoder.

    Returns:
        The version directory, as a string.

    Example:

    ```python
    import keras, tempfile
    from keras_contrastive.export import export_encoder, load_encoder

    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3),
                                keras.layers.GlobalAveragePooling2D()])
    base = tempfile.mkdtemp()
    version_dir = export_encoder(encoder, base)        # base/1
    reloaded = load_encoder(base)                      # highest version
    ```
    """
    encoder = _resolve_encoder(model_or_encoder)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise ValueError(f"`version` must be a non-negative integer, got version={version!r}.")
    image_shape = _image_shape(encoder, input_shape)
    path = os.fspath(path)
    version_dir = check_export_path(path, version, overwrite)

    def serve(images):
        return {OUTPUT_NAME: tf.cast(encoder(images, training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(encoder)
    endpoint = archive.add_endpoint(
        name=SIGNATURE_NAME,
        fn=serve,
        input_signature=[tf.TensorSpec((None,) + image_shape, tf.float32, name=INPUT_NAME)],
    )
    output_shape = endpoint.get_concrete_function().structured_outputs[OUTPUT_NAME].shape
    if output_shape.rank != 2:
        raise ValueError(
            f"The encoder must return embeddings [B, D]; it returns shape {tuple(output_shape)} for "
            f"images {(None,) + image_shape}. Add a pooling or Flatten layer."
        )

    os.makedirs(path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{int(version)}-", dir=path)
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a model server may run as another user
    try:
        archive.write_out(staging, verbose=False)
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.rename(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir


def _version_dir(path):
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No exported encoder at {path}: the directory does not exist.")
    versions = [
        int(name)
        for name in os.listdir(path)
        if name.isdigit() and os.path.isfile(os.path.join(path, name, "saved_model.pb"))
    ]
    if not versions:
        raise FileNotFoundError(
            f"No exported encoder at {path}: it is neither a SavedModel directory nor a base "
            "directory with numeric version subdirectories holding saved_model.pb."
        )
    return os.path.join(path, str(max(versions)))


def _serving_input_shape(version_dir):
    """(H, W, C) of the `images` input of the serving signature, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        signature = meta_graph.signature_def.get(SIGNATURE_NAME)
        if signature is None:
            continue
        if INPUT_NAME not in signature.inputs or OUTPUT_NAME not in signature.outputs:
            raise ValueError(
                f"The {SIGNATURE_NAME!r} signature of {version_dir} maps {list(signature.inputs)} -> "
                f"{list(signature.outputs)}; expected {INPUT_NAME!r} -> {OUTPUT_NAME!r} "
                "(a SavedModel written by export_encoder)."
            )
        dims = [d.size for d in signature.inputs[INPUT_NAME].tensor_shape.dim]
        return tuple(None if d < 0 else d for d in dims[1:])
    raise ValueError(f"{version_dir} has no {SIGNATURE_NAME!r} signature.")


def load_encoder(path, trainable=False):
    """Load an exported encoder as a Keras model (images -> embedding).

    Args:
        path: the base directory given to ``export_encoder`` (the highest
            numeric version is loaded) or a version directory.
        trainable: whether the reloaded weights are trainable (for
            fine-tuning).  The network always runs in inference mode
            (BatchNormalization uses its moving statistics).

    Returns:
        A functional ``keras.Model`` mapping float32 images ``[B, H, W, C]``
        in [0, 1] to float32 embeddings ``[B, D]``; usable as a layer of a
        new model.

    Example:

    ```python
    import keras, tempfile
    from keras_contrastive.export import export_encoder, load_encoder

    base = tempfile.mkdtemp()  # or the demo's saved_models/simclr_fashion_mnist
    export_encoder(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3),
                                     keras.layers.GlobalAveragePooling2D()]), base)
    encoder = load_encoder(base)
    classifier = keras.Sequential([encoder, keras.layers.Dense(10)])
    ```
    """
    version_dir = _version_dir(path)
    image_shape = _serving_input_shape(version_dir)
    layer = keras.layers.TFSMLayer(
        version_dir, call_endpoint=SIGNATURE_NAME, trainable=trainable, name="saved_encoder"
    )
    images = keras.Input(shape=image_shape, dtype="float32", name=INPUT_NAME)
    embedding = layer(images)[OUTPUT_NAME]
    model = keras.Model(images, embedding, name="encoder")
    model.trainable = trainable
    return model
