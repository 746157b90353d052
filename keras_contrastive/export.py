"""Export a trained encoder as a TF Serving SavedModel, and load it back.

Layout (what TF Serving's model server watches)::

    path/
      1/                   <- version directory, returned by export_encoder
        saved_model.pb     <- three signatures (below)
        variables/
        metadata.json      <- method, backbone, input size, preprocessing,
                              training data, git commit, figures of merit

Signatures (``H, W, C``: the encoder's input size; ``D``: its features):

=================  ===========================================  ================================
name               input                                        preprocessing inside the graph
=================  ===========================================  ================================
serving_default    ``images``: float32 ``[B, H, W, C]`` in [0, 1]   none
serve_uint8        ``images``: uint8 ``[B, h, w, C]``, any h, w     resize to H x W, scale by 1/255
serve_bytes        ``image_bytes``: string ``[B]``, JPEG/PNG/GIF/BMP  decode to C channels, resize, scale
=================  ===========================================  ================================

Each returns ``{"embedding": float32 [B, D]}`` (the backbone's features) and,
exported with ``include_projection=True``, ``"projection"`` (the method's
projection head on them).  Resizing is bilinear with antialiasing, to
exactly ``H x W`` (the aspect ratio is not kept); an image already at
``H x W`` is unchanged.  TF Serving's REST API sends ``serve_bytes`` its
input as ``{"b64": "..."}``.

The encoder is called with ``training=False`` (BatchNormalization uses its
moving statistics).  Models whose variables were created under a
``tf.distribute`` strategy (e.g. ``MirroredStrategy``) export the same way:
the SavedModel holds one copy of each variable.
"""
import datetime
import json
import os
import shutil
import subprocess
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive._checks import is_int

__all__ = ["SavedEncoderLayer", "export_encoder", "load_encoder", "read_metadata"]

SIGNATURE_NAME = "serving_default"
UINT8_SIGNATURE = "serve_uint8"
BYTES_SIGNATURE = "serve_bytes"
INPUT_NAME = "images"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAME = "embedding"
PROJECTION_NAME = "projection"
METADATA_FILE = "metadata.json"


def _resolve_encoder(model_or_encoder, input_shape=None):
    """What the export serves: a model's ``feature_extractor(input_shape)``
    (its representation, input transforms included: CPC's patch-grid mean,
    Colorization's lightness), a ``keras.Model`` encoder itself, or the
    ``.encoder`` of an object that holds one and has no ``feature_extractor``."""
    extractor = getattr(model_or_encoder, "feature_extractor", None)
    if callable(extractor):
        encoder = extractor(input_shape)
    elif isinstance(model_or_encoder, keras.Model):
        encoder = model_or_encoder
    else:
        encoder = getattr(model_or_encoder, "encoder", None)
    if not isinstance(encoder, keras.layers.Layer):
        raise TypeError(
            "`model_or_encoder` must be a model with a feature_extractor (a ContrastiveModel), a "
            "keras.Model (the encoder) or an object with an `.encoder` keras.Model attribute; "
            f"got {type(model_or_encoder).__name__}."
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

    Example:

    >>> import os, tempfile
    >>> from keras_contrastive.export import check_export_path
    >>> base = tempfile.mkdtemp()
    >>> os.path.relpath(check_export_path(base, version=3), base)
    '3'
    >>> os.makedirs(os.path.join(base, "3"))
    >>> check_export_path(base, version=3)
    Traceback (most recent call last):
    ...
    FileExistsError: ... already exists; pass overwrite=True to replace it or choose another `version`.
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


def export_encoder(model_or_encoder, path, version=1, overwrite=False, input_shape=None,
                   include_projection=False, metadata=None):
    """Write the encoder as a SavedModel in TF Serving layout ``path/<version>/``.

    Three signatures (see the module docstring): ``serving_default`` takes
    float32 images in [0, 1] at the training size, ``serve_uint8`` uint8
    images of any size and ``serve_bytes`` encoded JPEG/PNG/GIF/BMP strings;
    each returns ``{"embedding": float32 [B, D]}`` (plus ``"projection"``
    with ``include_projection=True``).  ``metadata.json`` beside
    ``saved_model.pb`` records the method, backbone, input size, the
    preprocessing constants, the git commit of the code and whatever
    ``metadata`` adds (training data, figures of merit).  The SavedModel is
    written to a temporary directory inside ``path`` and then renamed, so a
    server watching ``path`` never sees a half-written version.

    Args:
        model_or_encoder: a trained ``ContrastiveModel`` (its
            ``feature_extractor(input_shape)`` is exported: the encoder, CPC's
            patch-grid mean, Colorization's encoder of the RGB images'
            lightness), the encoder ``keras.Model`` itself, or an object with
            an ``.encoder`` ``keras.Model`` attribute.
        path: base directory of the servable (created if missing).
        version: non-negative integer version; the SavedModel goes to
            ``path/<version>``.
        overwrite: replace an existing ``path/<version>``; otherwise an
            existing version directory raises ``FileExistsError``.
        input_shape: ``(H, W, C)`` of the images; needed only when the
            encoder has no symbolic input (a subclassed model).  ``H`` and
            ``W`` may be ``None`` for a fully convolutional encoder (then
            ``serve_uint8`` and ``serve_bytes`` do not resize, and a
            ``serve_bytes`` batch must hold images of one size).
        include_projection: also output ``"projection"``, the model's
            ``projector`` applied to the embedding (a ``ContrastiveModel``
            with a projection head).
        metadata: a JSON-serialisable dict merged into ``metadata.json``
            (e.g. ``{"training_data": "fashion_mnist", "metrics":
            {"knn_acc": 0.83}}``).

    Returns:
        The version directory, as a string.

    Example:

    ```python
    import keras, tempfile
    from keras_contrastive.export import export_encoder, load_encoder, read_metadata

    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3),
                                keras.layers.GlobalAveragePooling2D()])
    base = tempfile.mkdtemp()
    version_dir = export_encoder(encoder, base, metadata={"training_data": "none"})  # base/1
    reloaded = load_encoder(base)                      # highest version
    print(read_metadata(base)["input_shape"])          # [28, 28, 1]
    ```
    """
    encoder = _resolve_encoder(model_or_encoder, input_shape)
    if not is_int(version) or version < 0:
        raise ValueError(f"`version` must be a non-negative integer, got version={version!r}.")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"`metadata` must be a dict, got {type(metadata).__name__}.")
    projector = None
    if include_projection:
        projector = getattr(model_or_encoder, "projector", None)
        if not isinstance(projector, keras.layers.Layer):
            raise ValueError(
                f"include_projection=True needs a model with a `projector` head; "
                f"{type(model_or_encoder).__name__} has none.")
    image_shape = _image_shape(encoder, input_shape)
    height, width, channels = image_shape
    path = os.fspath(path)
    version_dir = check_export_path(path, version, overwrite)

    def serve(images):
        features = encoder(images, training=False)
        outputs = {OUTPUT_NAME: tf.cast(features, tf.float32)}
        if projector is not None:
            outputs[PROJECTION_NAME] = tf.cast(projector(features, training=False), tf.float32)
        return outputs

    def to_input_size(images):  # float32 [B, h, w, C] in [0, 1] -> [B, H, W, C]
        if height is None or width is None:
            return images
        return tf.image.resize(images, (height, width), method="bilinear", antialias=True)

    def serve_uint8(images):
        return serve(to_input_size(tf.cast(images, tf.float32) / 255.0))

    def decode(data):
        image = tf.io.decode_image(data, channels=channels, dtype=tf.uint8,
                                   expand_animations=False)
        return to_input_size(tf.cast(image, tf.float32)[None] / 255.0)[0]

    def serve_bytes(image_bytes):
        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec(
            (height, width, channels), tf.float32))
        return serve(images)

    archive = keras.export.ExportArchive()
    archive.track(encoder)
    if projector is not None:
        archive.track(projector)
    endpoint = archive.add_endpoint(
        name=SIGNATURE_NAME, fn=serve,
        input_signature=[tf.TensorSpec((None,) + image_shape, tf.float32, name=INPUT_NAME)])
    output_shape = endpoint.get_concrete_function().structured_outputs[OUTPUT_NAME].shape
    if output_shape.rank != 2:
        raise ValueError(
            f"The encoder must return embeddings [B, D]; it returns shape {tuple(output_shape)} for "
            f"images {(None,) + image_shape}. Add a pooling or Flatten layer."
        )
    archive.add_endpoint(
        name=UINT8_SIGNATURE, fn=serve_uint8,
        input_signature=[tf.TensorSpec((None, None, None, channels), tf.uint8, name=INPUT_NAME)])
    archive.add_endpoint(
        name=BYTES_SIGNATURE, fn=serve_bytes,
        input_signature=[tf.TensorSpec((None,), tf.string, name=BYTES_INPUT_NAME)])

    record = _metadata(model_or_encoder, encoder, image_shape, output_shape[-1], projector,
                       metadata)
    os.makedirs(path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{int(version)}-", dir=path)
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a model server may run as another user
    try:
        archive.write_out(staging, verbose=False)
        with open(os.path.join(staging, METADATA_FILE), "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.rename(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir


def _git_commit():
    """The commit of this package's checkout (``+dirty`` with local changes), or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _metadata(model_or_encoder, encoder, image_shape, embedding_dim, projector, extra):
    from keras_contrastive import __version__

    record = {
        "method": (type(model_or_encoder).__name__ if model_or_encoder is not encoder else None),
        "backbone": encoder.name,
        "input_shape": list(image_shape),
        "embedding_dim": int(embedding_dim),
        "projection_dim": (int(projector.compute_output_shape((None, embedding_dim))[-1])
                           if projector is not None else None),
        "preprocessing": {
            SIGNATURE_NAME: "none: float32 images in [0, 1] at input_shape",
            "scale": 1.0 / 255.0,
            "resize": "bilinear, antialias, to input_shape[:2] (aspect ratio not kept)",
            "decode": f"tf.io.decode_image, {image_shape[-1]} channel(s)",
        },
        "signatures": {
            SIGNATURE_NAME: {"inputs": {INPUT_NAME: "float32 [B, H, W, C] in [0, 1]"}},
            UINT8_SIGNATURE: {"inputs": {INPUT_NAME: "uint8 [B, h, w, C]"}},
            BYTES_SIGNATURE: {"inputs": {BYTES_INPUT_NAME: "string [B] (JPEG/PNG/GIF/BMP)"}},
        },
        "outputs": [OUTPUT_NAME] + ([PROJECTION_NAME] if projector is not None else []),
        "git_commit": _git_commit(),
        "keras_contrastive_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra or {})
    # NumPy scalars and arrays become JSON numbers and lists; refuse anything
    # else metadata.json cannot hold before a file is written
    return json.loads(json.dumps(record, default=_jsonable))


def _jsonable(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"`metadata` holds {value!r} ({type(value).__name__}), which JSON cannot "
                    "store; pass numbers, strings, lists and dicts.")


def read_metadata(path):
    """The ``metadata.json`` of an export (base directory: highest version).

    Example:

    >>> import tempfile
    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.export import export_encoder, read_metadata
    >>> path = tempfile.mkdtemp()
    >>> _ = export_encoder(backbones.resnet18((16, 16, 1), width=4), path, overwrite=True)
    >>> info = read_metadata(path)
    >>> info["input_shape"], sorted(info["signatures"])
    ([16, 16, 1], ['serve_bytes', 'serve_uint8', 'serving_default'])
    """
    version_dir = _version_dir(path)
    file = os.path.join(version_dir, METADATA_FILE)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{version_dir} has no {METADATA_FILE} (exported by an older "
                                "version of keras-contrastive?).")
    with open(file) as f:
        return json.load(f)


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


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SavedEncoderLayer(keras.layers.TFSMLayer):
    """``keras.layers.TFSMLayer`` whose weights any Keras optimizer can train.

    Keras' layer names each reloaded weight after its TensorFlow variable,
    ``"..._kernel:0"``; the ``":"`` then reaches the names of optimizer
    slots (Adam's moments, SGD's momentum), which TensorFlow refuses as
    scope names (``ValueError: '..._kernel:0_momentum' is not a valid scope
    name``), so a reloaded encoder could only be fine-tuned by plain SGD.
    This layer drops the ``":0"`` suffix.  ``load_encoder`` uses it.

    Example:

    ```python
    import keras, tempfile
    from keras_contrastive.export import SavedEncoderLayer, export_encoder

    base = tempfile.mkdtemp()
    version_dir = export_encoder(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(
        4, 3), keras.layers.GlobalAveragePooling2D()]), base)
    layer = SavedEncoderLayer(version_dir, call_endpoint="serving_default", trainable=True)
    print([w.name for w in layer.trainable_weights])
    ```
    """

    def _add_existing_weight(self, weight):
        variable = keras.Variable(
            initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
            shape=weight.shape, name=weight.name.split(":")[0].replace("/", "_"))
        self._track_variable(variable)


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
    layer = SavedEncoderLayer(
        version_dir, call_endpoint=SIGNATURE_NAME, trainable=trainable, name="saved_encoder"
    )
    images = keras.Input(shape=image_shape, dtype="float32", name=INPUT_NAME)
    embedding = layer(images)[OUTPUT_NAME]
    model = keras.Model(images, embedding, name="encoder")
    model.trainable = trainable
    return model
