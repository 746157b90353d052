"""Export a trained encoder as a TF Serving SavedModel, and load it back.

Layout (what TF Serving's model server watches)::

    path/
      1/                   <- version directory, returned by export_encoder
        saved_model.pb     <- three signatures (below)
        variables/
        metadata.json      <- method, backbone, input size, preprocessing,
                              training data, git commit, figures of merit

Signatures (``H, W, C``: the encoder's input size; ``D``: its features):

=================  =================================================  ==========================
name               input                                              preprocessing in the graph
=================  =================================================  ==========================
serving_default    ``images``: float32 ``[B, H, W, C]`` in [0, 1]     none
serve_uint8        ``images``: uint8 ``[B, h, w, c]``, any h, w, c    to C channels, resize to
                   (c: 1 grey, 3 RGB, 4 RGBA)                         H x W, scale by 1/255
serve_bytes        ``image_bytes``: string ``[B]``, JPEG, PNG, GIF,   check the header size,
                   BMP or WebP                                        decode, to C channels,
                                                                      resize, turn a JPEG as
                                                                      its EXIF orientation
                                                                      says, scale
=================  =================================================  ==========================

Each returns ``{"embedding": float32 [B, D]}`` (the backbone's features, ``D``
= ``embedding_dim`` in ``metadata.json``; not L2-normalised: normalise them
for cosine similarity) and, exported with ``include_projection=True``,
``"projection"`` (the method's projection head on them).  ``serve_uint8`` and
``serve_bytes`` preprocess exactly as the folder and TFDS loaders of training
and evaluation do (one function, ``data.preprocess.prepare_images``): channels
converted (grey repeated for a colour model, colour to grey by BT.601 luma,
``0.299 R + 0.587 G + 0.114 B`` rounded, for a grey one, alpha dropped),
then resized bilinearly with antialiasing to exactly ``H x W`` (the aspect
ratio is not kept) and rounded to uint8, then scaled by 1/255; an image
already at ``H x W`` is unchanged.  ``serve_bytes`` also turns a JPEG as
its EXIF orientation tag says, as the folder loader does (the tag read by
``data.orientation.exif_orientation_tf``, graph ops mirroring the loader's
``exif_orientation``; the image resized to the turned proportions, then
turned); ``serve_uint8`` takes pixels as they are.  TF
Serving's REST API sends ``serve_bytes`` its input as ``{"b64": "..."}``.  An
empty batch is refused;
``serve_bytes`` refuses an image whose header announces more than
``max_pixels`` pixels before decoding it, and names the indices of the
images it could not decode.

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

from keras_contrastive._checks import is_int, is_positive_int
from keras_contrastive.data.orientation import exif_orientation_tf
from keras_contrastive.data.preprocess import prepare_images

__all__ = ["DEFAULT_MAX_PIXELS", "SavedDualEncoder", "SavedEncoderLayer", "export_dual_encoder",
           "export_encoder", "export_model", "export_tflite", "load_dual_encoder", "load_encoder",
           "read_metadata", "recover_interrupted_export", "servable_version"]

SIGNATURE_NAME = "serving_default"
UINT8_SIGNATURE = "serve_uint8"
BYTES_SIGNATURE = "serve_bytes"
INPUT_NAME = "images"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAME = "embedding"
PROJECTION_NAME = "projection"
FEATURES_NAME = "features"  # a dual encoder's raw image features beside its joint embedding
TEXT_SIGNATURE = "serve_text"
TEXT_INPUT_NAME = "texts"
METADATA_FILE = "metadata.json"
#: the signatures each kind of export serves, by ``export_model``'s ``what``
SERVED_SIGNATURES = {
    "encoder": (SIGNATURE_NAME, UINT8_SIGNATURE, BYTES_SIGNATURE),
    "both towers": (SIGNATURE_NAME, UINT8_SIGNATURE, BYTES_SIGNATURE, TEXT_SIGNATURE),
}

DEFAULT_MAX_PIXELS = 25_000_000
_FORMATS = "JPEG, PNG, GIF, BMP or WebP"


def _header_size(data):
    """``[height, width]`` (int64) read from an encoded image's header without
    decoding it: JPEG (``tf.image.extract_jpeg_shape``), PNG, GIF, BMP and WebP
    (lossy, lossless, extended); ``[-1, -1]`` for anything else."""
    head = tf.strings.substr(tf.strings.join([data, tf.constant(b"\0" * 32)]), 0, 32)
    b = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)

    def little(i, n):
        return tf.add_n([b[i + k] * 256 ** k for k in range(n)])

    def big(i):
        return tf.add_n([b[i + k] * 256 ** (3 - k) for k in range(4)])

    magic = tf.strings.substr(head, 0, 4)
    webp = tf.logical_and(tf.equal(magic, b"RIFF"),
                          tf.equal(tf.strings.substr(head, 8, 4), b"WEBP"))
    chunk = tf.strings.substr(head, 12, 4)
    bmp_height = little(22, 4)  # signed: negative for top-down bitmaps
    bmp_height = tf.where(bmp_height >= 2 ** 31, 2 ** 32 - bmp_height, bmp_height)
    bmp_core = tf.equal(little(14, 4), 12)  # BITMAPCOREHEADER: 16-bit sizes
    return tf.case([
        (tf.equal(tf.strings.substr(head, 0, 8), b"\x89PNG\r\n\x1a\n"),
         lambda: tf.stack([big(20), big(16)])),
        (tf.equal(magic, b"GIF8"), lambda: tf.stack([little(8, 2), little(6, 2)])),
        (tf.equal(tf.strings.substr(head, 0, 2), b"BM"),
         lambda: tf.where(bmp_core, tf.stack([little(20, 2), little(18, 2)]),
                          tf.stack([bmp_height, little(18, 4)]))),
        (tf.logical_and(webp, tf.equal(chunk, b"VP8 ")),
         lambda: tf.stack([little(28, 2) % 16384, little(26, 2) % 16384])),
        (tf.logical_and(webp, tf.equal(chunk, b"VP8L")),
         lambda: tf.stack([little(21, 4) // 16384 % 16384 + 1, little(21, 4) % 16384 + 1])),
        (tf.logical_and(webp, tf.equal(chunk, b"VP8X")),
         lambda: tf.stack([little(27, 3) + 1, little(24, 3) + 1])),
        (tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8"),
         lambda: tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)),
    ], default=lambda: tf.constant([-1, -1], tf.int64), exclusive=True)


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

    It first cleans up after an export of that version that was killed
    (:func:`recover_interrupted_export`).  Raises ``FileExistsError`` when it
    exists and ``overwrite`` is False, and
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
    recover_interrupted_export(path, version)
    if os.path.exists(version_dir) and not overwrite:
        raise FileExistsError(
            f"{version_dir} already exists; pass overwrite=True to replace it or choose another `version`."
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"`path` {path} exists and is not a directory.")
    return version_dir


def export_encoder(model_or_encoder, path, version=1, overwrite=False, input_shape=None,
                   include_projection=False, metadata=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Write the encoder as a SavedModel in TF Serving layout ``path/<version>/``.

    Three signatures (see the module docstring): ``serving_default`` takes
    float32 images in [0, 1] at the training size, ``serve_uint8`` uint8
    images of any size and ``serve_bytes`` encoded JPEG/PNG/GIF/BMP/WebP strings;
    each returns ``{"embedding": float32 [B, D]}`` (plus ``"projection"``
    with ``include_projection=True``).  ``metadata.json`` beside
    ``saved_model.pb`` records the method, backbone, input size, the
    preprocessing constants, the git commit of the code and whatever
    ``metadata`` adds (training data, figures of merit).  The SavedModel is
    written to a temporary directory inside ``path`` and then renamed, so a
    server watching ``path`` never sees a half-written version; with
    ``overwrite=True`` the new version replaces the old one by an atomic
    exchange of the two directories (Linux; elsewhere two renames, undone by
    the next export after a kill between them), so a version is servable at
    every moment.  Left-overs of a killed export of the same version are
    removed first.

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
            {"knn_acc": 0.83}}``); NaN and infinite numbers are written as
            ``null`` (the file is strict JSON).
        max_pixels: ``serve_bytes`` refuses an image of more pixels (height x
            width, read from its header before decoding); default 25 million
            (a 6000 x 4000 photo), recorded in ``metadata.json``.

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
    max_pixels = _check_export_arguments(version, max_pixels, metadata)
    projector = None
    if include_projection:
        projector = getattr(model_or_encoder, "projector", None)
        if not isinstance(projector, keras.layers.Layer):
            raise ValueError(
                f"include_projection=True needs a model with a `projector` head; "
                f"{type(model_or_encoder).__name__} has none.")
    image_shape = _image_shape(encoder, input_shape)
    path = os.fspath(path)
    version_dir = check_export_path(path, version, overwrite)

    def serve(images):
        features = encoder(images, training=False)
        outputs = {OUTPUT_NAME: tf.cast(features, tf.float32)}
        if projector is not None:
            outputs[PROJECTION_NAME] = tf.cast(projector(features, training=False), tf.float32)
        return outputs

    archive = keras.export.ExportArchive()
    archive.track(encoder)
    if projector is not None:
        archive.track(projector)
    output_shape = _add_image_endpoints(archive, serve, image_shape, max_pixels)
    record = _metadata(model_or_encoder, encoder, image_shape, output_shape[-1], projector,
                       {"max_pixels": max_pixels, **(metadata or {})})
    _write_version(archive, record, path, version, version_dir)
    return version_dir


def export_model(model, path, version=1, overwrite=False, include_projection=False,
                 metadata=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Export what ``model`` serves, whatever the method: a
    :class:`~keras_contrastive.models.DualEncoder`'s two towers
    (:func:`export_dual_encoder`), any other model's (or a bare encoder's) image
    encoder (:func:`export_encoder`).  The one place that knows which methods
    export what; ``keras-contrastive export`` calls it.

    Returns ``(version_dir, what)``, ``what`` being ``"both towers"`` or
    ``"encoder"`` (``SERVED_SIGNATURES[what]``: the signatures it serves).
    ``include_projection`` is refused for a dual encoder (its image
    embeddings are already the projected, normalised ones).

    Example:

    >>> import tempfile, keras
    >>> from keras_contrastive.export import export_model
    >>> encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...                             keras.layers.GlobalAveragePooling2D()])
    >>> path, what = export_model(encoder, tempfile.mkdtemp())
    >>> what, path.endswith("/1")
    ('encoder', True)
    """
    from keras_contrastive.models.dual_encoder import DualEncoder

    if isinstance(model, DualEncoder):
        if include_projection:
            raise ValueError("include_projection does not apply to a DualEncoder: its export "
                             "serves the projected, L2-normalised image and text embeddings "
                             "(export_dual_encoder).")
        return export_dual_encoder(model, path, version=version, overwrite=overwrite,
                                   metadata=metadata, max_pixels=max_pixels), "both towers"
    return export_encoder(model, path, version=version, overwrite=overwrite,
                          include_projection=include_projection, metadata=metadata,
                          max_pixels=max_pixels), "encoder"


def export_dual_encoder(model, path, version=1, overwrite=False, metadata=None,
                        max_pixels=DEFAULT_MAX_PIXELS):
    """Write a trained :class:`keras_contrastive.models.DualEncoder` (CLIP) as a
    SavedModel in TF Serving layout ``path/<version>/``: both towers, so a
    server embeds images and texts in the joint space.

    Signatures: the three image signatures of :func:`export_encoder`
    (``serving_default``: float32 images in [0, 1] at the training size;
    ``serve_uint8``: uint8 images of any size; ``serve_bytes``: encoded
    JPEG/PNG/GIF/BMP/WebP strings; the same preprocessing in the graph), each
    returning ``{"embedding": float32 [B, projection_dim]}``, the image
    tower's projection **L2-normalised** (``model.embed_images``), and
    ``"features"``, the image encoder's raw features ``[B, D]``
    (``model.feature_extractor()``, not normalised); and ``serve_text``, which
    takes ``texts``: ``tf.string [B]`` and returns ``{"embedding": float32 [B,
    projection_dim]}``, the text tower's projection L2-normalised
    (``model.embed_texts``: lower-cased, punctuation stripped, split on
    whitespace, unknown words read as the OOV token, cut or padded to
    ``sequence_length`` tokens; an empty text embeds as zeros).  The dot
    product of an image's and a text's ``embedding`` is their cosine
    similarity; CLIP's logits are it times ``logit_scale``.

    ``metadata.json`` holds what :func:`export_encoder` writes plus
    ``"kind": "dual_encoder"``, the ``vocabulary`` (the token list, without
    the padding and OOV tokens), ``sequence_length``, ``projection_dim``
    (``embedding_dim`` too), ``features_dim``, ``logit_scale`` (the learnt
    ``exp(log_logit_scale)``) and ``temperature`` (its inverse), and each
    signature's inputs and outputs.  Written atomically like
    :func:`export_encoder` (a server watching ``path`` never sees half a
    version).  Read it back with :func:`load_dual_encoder`, or with
    ``tf.saved_model.load`` alone (docs/SERVING.md).

    Args:
        model: a ``DualEncoder``.
        path: base directory of the servable (created if missing).
        version: non-negative integer version: the SavedModel goes to ``path/<version>``.
        overwrite: replace an existing ``path/<version>`` (otherwise ``FileExistsError``).
        metadata: a JSON-serialisable dict merged into ``metadata.json``.
        max_pixels: ``serve_bytes`` refuses an image of more pixels (as in
            :func:`export_encoder`).

    Returns:
        The version directory, as a string.

    Example (zero-shot classification from the SavedModel alone):

    ```python
    import numpy as np, tempfile
    from keras_contrastive import backbones, data, models
    from keras_contrastive.export import export_dual_encoder, load_dual_encoder
    from keras_contrastive.models.dual_encoder import text_vocabulary

    images, captions = data.fashion_scene_captions("test", 4, size=16, seed=0)
    model = models.DualEncoder(backbones.small_cnn((16, 16, 3)), text_vocabulary(captions),
                               projection_dim=8, text_dim=8, text_depth=1, text_num_heads=2)
    base = tempfile.mkdtemp()
    export_dual_encoder(model, base)                    # base/1
    served = load_dual_encoder(base)
    probabilities = served.zero_shot(images, data.class_prompts())   # [4, 10]
    predicted = probabilities.argmax(axis=1)            # a class index per image
    ```
    """
    from keras_contrastive.models.dual_encoder import DualEncoder

    if not isinstance(model, DualEncoder):
        raise TypeError(f"export_dual_encoder exports a DualEncoder, got "
                        f"{type(model).__name__}; export an image encoder with export_encoder.")
    max_pixels = _check_export_arguments(version, max_pixels, metadata)
    encoder = model.feature_extractor()
    image_shape = _image_shape(encoder, None)
    path = os.fspath(path)
    version_dir = check_export_path(path, version, overwrite)

    def serve_images(images):
        features = encoder(images, training=False)
        joint = model.image_projection(features, training=False)
        return {OUTPUT_NAME: tf.math.l2_normalize(tf.cast(joint, tf.float32), axis=1),
                FEATURES_NAME: tf.cast(features, tf.float32)}

    def serve_text(texts):
        joint = tf.cast(model.project_texts(texts, training=False), tf.float32)
        return {OUTPUT_NAME: tf.math.l2_normalize(joint, axis=1)}

    archive = keras.export.ExportArchive()
    for part in (encoder, model.image_projection, model.text_encoder, model.text_projection):
        archive.track(part)
    projection_dim = _add_image_endpoints(archive, serve_images, image_shape, max_pixels)[-1]
    archive.add_endpoint(name=TEXT_SIGNATURE, fn=serve_text,
                         input_signature=[tf.TensorSpec((None,), tf.string, name=TEXT_INPUT_NAME)])
    logit_scale = float(np.exp(keras.ops.convert_to_numpy(model.log_logit_scale)))
    image_outputs = {OUTPUT_NAME: "float32 [B, projection_dim], the image projection, "
                                  "L2-normalised (joint space)",
                     FEATURES_NAME: "float32 [B, features_dim], the image encoder's features, "
                                    "not normalised"}
    record = _metadata(model, encoder, image_shape, projection_dim, None, {
        "max_pixels": max_pixels,
        "kind": "dual_encoder",
        "embedding_dim": int(projection_dim),
        "projection_dim": int(projection_dim),
        "features_dim": int(model.feature_dim),
        "vocabulary": list(model.vocabulary),
        "sequence_length": model.sequence_length,
        "logit_scale": logit_scale,
        "temperature": 1.0 / logit_scale,
        "text_preprocessing": "keras TextVectorization with `vocabulary`: lower-cased, "
                              "punctuation stripped, split on whitespace, unknown words -> "
                              "the OOV token, cut or padded to sequence_length tokens",
        "signatures": {
            SIGNATURE_NAME: {"inputs": {INPUT_NAME: "float32 [B, H, W, C] in [0, 1]"},
                             "outputs": image_outputs},
            UINT8_SIGNATURE: {"inputs": {INPUT_NAME: "uint8 [B, h, w, c], c in 1, 3, 4"},
                              "outputs": image_outputs},
            BYTES_SIGNATURE: {"inputs": {BYTES_INPUT_NAME: f"string [B] ({_FORMATS})"},
                              "outputs": image_outputs},
            TEXT_SIGNATURE: {"inputs": {TEXT_INPUT_NAME: "string [B], UTF-8 texts"},
                             "outputs": {OUTPUT_NAME: "float32 [B, projection_dim], the text "
                                                      "projection, L2-normalised (joint space)"}},
        },
        "outputs": [OUTPUT_NAME, FEATURES_NAME],
        **(metadata or {})})
    _write_version(archive, record, path, version, version_dir)
    return version_dir


def _check_export_arguments(version, max_pixels, metadata):
    """Refuses a bad ``version``, ``max_pixels`` or ``metadata``; ``max_pixels`` as an int."""
    if not is_int(version) or version < 0:
        raise ValueError(f"`version` must be a non-negative integer, got version={version!r}.")
    if not is_positive_int(max_pixels):
        raise ValueError(f"`max_pixels` must be a positive integer, got max_pixels={max_pixels!r}.")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"`metadata` must be a dict, got {type(metadata).__name__}.")
    return int(max_pixels)


def _add_image_endpoints(archive, serve, image_shape, max_pixels):
    """Adds the three image signatures to ``archive``, each ``serve`` (float32
    images ``[B, H, W, C]`` in [0, 1] -> a dict of outputs, ``"embedding"`` among
    them) behind its preprocessing; returns the shape of ``"embedding"``."""
    height, width, channels = image_shape

    def to_input(images, orientation=None):  # uint8 [(B,) h, w, c] -> float32 [(B,) H, W, C]
        # the loaders' own preprocessing (data.preprocess): train/serve parity
        size = None if height is None or width is None else (height, width)
        return tf.cast(prepare_images(images, channels, size, orientation), tf.float32) / 255.0

    def serve_uint8(images):
        _assert_not_empty(UINT8_SIGNATURE, INPUT_NAME, images)
        return serve(to_input(images))

    def serve_bytes(image_bytes):
        return serve(_decode_batch(image_bytes, image_shape, max_pixels, to_input))

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
        input_signature=[tf.TensorSpec((None, None, None, None), tf.uint8, name=INPUT_NAME)])
    archive.add_endpoint(
        name=BYTES_SIGNATURE, fn=serve_bytes,
        input_signature=[tf.TensorSpec((None,), tf.string, name=BYTES_INPUT_NAME)])
    return output_shape


def _write_version(archive, record, path, version, version_dir):
    """Writes ``archive`` and ``record`` (``metadata.json``) to a temporary folder in
    ``path`` and swaps it in at ``version_dir`` (:func:`_swap_in`)."""
    os.makedirs(path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f"{_STAGING}{int(version)}-", dir=path)
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a model server may run as another user
    try:
        archive.write_out(staging, verbose=False)
        with open(os.path.join(staging, METADATA_FILE), "w") as f:
            json.dump(record, f, indent=2, sort_keys=True, allow_nan=False)
        _swap_in(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_tflite(model_or_encoder, path, input_shape=None, overwrite=False):
    """Write the encoder as a TensorFlow Lite (LiteRT) flat buffer, for phones and
    microcontrollers.

    The ``.tflite`` model is ``serving_default`` of :func:`export_encoder`:
    one input, float32 images ``[B, H, W, C]`` in [0, 1] at the encoder's size
    (``B`` free: resize the interpreter's input for a batch), one output, the
    float32 embeddings ``[B, D]`` (not L2-normalised), the network in inference
    mode.  No preprocessing is in the file: decode, convert the channels and
    resize as ``data.preprocess.prepare_images`` does, then scale by 1/255.
    Converted by TensorFlow's own ``tf.lite.TFLiteConverter`` with LiteRT's
    built-in operations only (no TensorFlow ops), no quantisation; the file
    runs in ``ai_edge_litert``'s interpreter as in ``tf.lite.Interpreter``.
    Written to a temporary file beside ``path`` and renamed.

    Args:
        model_or_encoder: as for :func:`export_encoder`.
        path: the ``.tflite`` file to write.
        input_shape: ``(H, W, C)``; needed only for an encoder without a
            symbolic input.  ``H`` and ``W`` must be known.
        overwrite: replace an existing file (otherwise ``FileExistsError``).

    Returns:
        ``path``, as a string.

    Example:

    ```python
    import keras, os, tempfile
    from keras_contrastive.export import export_tflite

    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3),
                                keras.layers.GlobalAveragePooling2D()])
    path = export_tflite(encoder, os.path.join(tempfile.mkdtemp(), "encoder.tflite"))
    # then: interpreter = ai_edge_litert.interpreter.Interpreter(model_path=path)
    # (or tf.lite.Interpreter), resize_tensor_input to the batch, allocate_tensors,
    # set_tensor, invoke, get_tensor of the output: embeddings [B, 8]
    ```
    """
    encoder = _resolve_encoder(model_or_encoder, input_shape)
    image_shape = _image_shape(encoder, input_shape)
    if None in image_shape:
        raise ValueError(f"a .tflite encoder needs a fixed image size; the encoder takes "
                         f"{image_shape}: pass input_shape=(H, W, C).")
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")

    # through a SavedModel of the one signature: the converter's supported path
    # (from a concrete function it leaves Keras 3's variables as unset resources)
    archive = keras.export.ExportArchive()
    archive.track(encoder)
    endpoint = archive.add_endpoint(
        name=SIGNATURE_NAME,
        fn=lambda images: {OUTPUT_NAME: tf.cast(encoder(images, training=False), tf.float32)},
        input_signature=[tf.TensorSpec((None,) + image_shape, tf.float32, name=INPUT_NAME)])
    output_shape = endpoint.get_concrete_function().structured_outputs[OUTPUT_NAME].shape
    if output_shape.rank != 2:
        raise ValueError(f"The encoder must return embeddings [B, D]; it returns shape "
                         f"{tuple(output_shape)}. Add a pooling or Flatten layer.")
    with tempfile.TemporaryDirectory() as saved_model:
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flat_buffer = converter.convert()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, staging = tempfile.mkstemp(suffix=".tflite.tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(flat_buffer)
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise
    return path


def _assert_not_empty(signature, input_name, batch):
    tf.debugging.assert_positive(tf.shape(batch)[0], message=(
        f"{signature}: the batch `{input_name}` is empty; send at least one image"))


def _decode_batch(image_bytes, image_shape, max_pixels, to_input):
    """``[B, H, W, C]`` float32 images in [0, 1] from ``B`` encoded images.

    Each image's height and width are read from its header first: one over
    ``max_pixels`` is refused before it is decoded.  Decoding runs in a
    ``tf.data`` pipeline that drops the images that fail, so the error names
    their indices in the batch rather than failing without saying which.
    ``to_input``: a decoded uint8 image and its EXIF orientation -> the
    model's float input."""
    height, width, channels = image_shape
    count = tf.shape(image_bytes)[0]
    _assert_not_empty(BYTES_SIGNATURE, BYTES_INPUT_NAME, image_bytes)

    def decode(index, data):
        size = _header_size(data)
        too_large = size[0] * size[1] > max_pixels

        def decoded():
            image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
            pixels = tf.cast(tf.shape(image)[0], tf.int64) * tf.cast(tf.shape(image)[1], tf.int64)
            tf.debugging.assert_less_equal(pixels, tf.constant(max_pixels, tf.int64))
            # a JPEG turned as its EXIF orientation says, as the folder loader does
            return to_input(image, exif_orientation_tf(data))

        image = tf.cond(too_large, lambda: tf.zeros((height or 0, width or 0, channels)),
                        decoded)
        return index, too_large, image

    good = tf.data.Dataset.from_tensor_slices((tf.range(count), image_bytes)).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    nothing = tf.data.Dataset.from_tensors((
        tf.zeros([0], tf.int32), tf.zeros([0], tf.bool),
        tf.zeros([0, height or 0, width or 0, channels])))
    indices, too_large, images = good.batch(tf.cast(count, tf.int64)).concatenate(
        nothing).take(1).get_single_element()
    failed = tf.sparse.to_dense(tf.sets.difference(tf.range(count)[None], indices[None]))[0]
    tf.debugging.Assert(tf.equal(tf.size(failed), 0), [
        f"{BYTES_SIGNATURE}: the images at these indices of `{BYTES_INPUT_NAME}` could not be "
        f"decoded (not {_FORMATS}, or damaged, or over {max_pixels} pixels when decoded):",
        failed], summarize=64)
    tf.debugging.Assert(tf.logical_not(tf.reduce_any(too_large)), [
        f"{BYTES_SIGNATURE}: the images at these indices of `{BYTES_INPUT_NAME}` have more "
        f"than max_pixels={max_pixels} pixels (height x width in their headers); shrink them "
        "before sending:", tf.boolean_mask(indices, too_large)], summarize=64)
    return images


_STAGING = ".tmp-"  # prefix of a version being written: path/.tmp-<version>-XXXX
_RETIRED = ".old-"  # prefix of a replaced version between two renames: path/.old-<version>-XXXX
_RENAME_EXCHANGE = 2  # renameat2's flag: swap two paths atomically (Linux)


def _exchange(first, second):
    """Swaps two directories atomically with Linux's ``renameat2(RENAME_EXCHANGE)``;
    False where the system or the file system does not offer it."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    at_cwd = -100
    return renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second),
                     _RENAME_EXCHANGE) == 0


def _swap_in(staging, version_dir):
    """Puts the complete version ``staging`` at ``version_dir`` so that a
    servable version is there at every moment: a rename when there was none,
    an atomic exchange (then the old version, now at ``staging``, is deleted)
    where the system offers one, else two renames through ``.old-<version>-*``
    (``recover_interrupted_export`` restores it after a kill between them)."""
    if not os.path.exists(version_dir):
        os.rename(staging, version_dir)
        return
    if _exchange(staging, version_dir):
        shutil.rmtree(staging)
        return
    base, version = os.path.split(version_dir)
    retired = tempfile.mkdtemp(prefix=f"{_RETIRED}{version}-", dir=base)
    os.rmdir(retired)
    os.rename(version_dir, retired)
    try:
        os.rename(staging, version_dir)
    except BaseException:
        os.rename(retired, version_dir)
        raise
    shutil.rmtree(retired)


def recover_interrupted_export(path, version):
    """Cleans up after an export of ``path/<version>`` that was killed: deletes
    its half-written ``.tmp-<version>-*`` folders and, if ``path/<version>`` is
    missing while a replaced copy waits in ``.old-<version>-*``, puts it back
    (otherwise deletes it).  ``export_encoder`` calls it before writing.

    Example:

    >>> import os, tempfile
    >>> from keras_contrastive.export import recover_interrupted_export
    >>> base = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(base, ".old-1-abc"))
    >>> os.makedirs(os.path.join(base, ".tmp-1-def"))
    >>> recover_interrupted_export(base, 1)
    >>> sorted(os.listdir(base))
    ['1']
    """
    path, version = os.fspath(path), int(version)
    if not os.path.isdir(path):
        return
    version_dir = os.path.join(path, str(version))
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name.startswith(f"{_RETIRED}{version}-") and not os.path.exists(version_dir):
            os.rename(full, version_dir)
        elif name.startswith((f"{_STAGING}{version}-", f"{_RETIRED}{version}-")):
            shutil.rmtree(full, ignore_errors=True)


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
            "resize": "bilinear, antialias, to input_shape[:2] (aspect ratio not kept), "
                      "rounded to uint8 before scaling: keras_contrastive.data.preprocess, as "
                      "the folder and TFDS loaders of training and evaluation",
            "exif_orientation": f"{BYTES_SIGNATURE} turns a JPEG as its EXIF orientation tag "
                                "(0x0112) says, as the folder loader does: resized to "
                                "the turned proportions, then turned "
                                "(keras_contrastive.data.orientation, .preprocess)",
            "decode": f"tf.io.decode_image, then {image_shape[-1]} channel(s) (grey repeated, "
                      "colour to BT.601 luma, rounded, alpha dropped, or added opaque for 4 "
                      "channels)",
        },
        "signatures": {
            SIGNATURE_NAME: {"inputs": {INPUT_NAME: "float32 [B, H, W, C] in [0, 1]"}},
            UINT8_SIGNATURE: {"inputs": {INPUT_NAME: "uint8 [B, h, w, c], c in 1, 3, 4"}},
            BYTES_SIGNATURE: {"inputs": {BYTES_INPUT_NAME: f"string [B] ({_FORMATS})"}},
        },
        "outputs": [OUTPUT_NAME] + ([PROJECTION_NAME] if projector is not None else []),
        "git_commit": _git_commit(),
        "keras_contrastive_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra or {})
    return jsonable_metadata(record)


def jsonable_metadata(record):
    """``record`` as strict JSON holds it: NumPy scalars and arrays become numbers
    and lists, tuples lists, NaN and infinities null; anything else JSON cannot
    hold is refused (a TypeError) before a file is written.

    >>> import numpy as np
    >>> from keras_contrastive.export import jsonable_metadata
    >>> jsonable_metadata({"acc": np.float32(0.5), "loss": float("nan"), "size": (2, 3)})
    {'acc': 0.5, 'loss': None, 'size': [2, 3]}
    """
    return _finite_or_null(json.loads(json.dumps(record, default=_jsonable)))


def _finite_or_null(value):
    """``value`` (parsed JSON) with every NaN or infinite float replaced by ``None``."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(item) for item in value]
    return value


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
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{file} is damaged: not JSON ({error}).") from None


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


def servable_version(path):
    """The version folder that ``path`` names: ``path`` itself when it holds
    ``saved_model.pb``, else its highest numeric version (what
    ``load_encoder`` and ``read_metadata`` read).

    >>> import os, tempfile
    >>> from keras_contrastive.export import servable_version
    >>> base = tempfile.mkdtemp()
    >>> for version in ("1", "12", "3"):
    ...     os.makedirs(os.path.join(base, version))
    ...     open(os.path.join(base, version, "saved_model.pb"), "wb").close()
    >>> os.path.basename(servable_version(base))
    '12'
    """
    return _version_dir(path)


def _serving_input_shape(version_dir):
    """(H, W, C) of the `images` input of the serving signature, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    from google.protobuf.message import DecodeError

    saved_model = saved_model_pb2.SavedModel()
    file = os.path.join(version_dir, "saved_model.pb")
    with open(file, "rb") as f:
        try:
            saved_model.ParseFromString(f.read())
        except DecodeError as error:
            raise ValueError(f"{file} is damaged (truncated or not a SavedModel): cannot parse "
                             f"it ({error}); export the encoder again.") from None
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


def _damaged_savedmodel(version_dir, error, what):
    """The ``ValueError`` for a SavedModel TensorFlow's loader could not read (``error``)."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ValueError(f"the SavedModel at {version_dir} is damaged (truncated or missing "
                      f"variables?): cannot load it ({type(error).__name__}: {first_line}); "
                      f"export {what} again.")


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
    try:
        layer = SavedEncoderLayer(
            version_dir, call_endpoint=SIGNATURE_NAME, trainable=trainable, name="saved_encoder"
        )
    except Exception as error:  # TensorFlow's loader fails in many ways on damaged files
        raise _damaged_savedmodel(version_dir, error, "the encoder") from None
    images = keras.Input(shape=image_shape, dtype="float32", name=INPUT_NAME)
    embedding = layer(images)[OUTPUT_NAME]
    model = keras.Model(images, embedding, name="encoder")
    model.trainable = trainable
    return model


class SavedDualEncoder:
    """A dual encoder written by :func:`export_dual_encoder`, served from its
    SavedModel alone (``tf.saved_model.load``; no library model class is
    rebuilt): images and texts to L2-normalised embeddings in the joint space,
    and zero-shot classification by prompts.  :func:`load_dual_encoder` makes one.

    Attributes:
        version_dir: the version folder loaded.
        metadata: its ``metadata.json`` (dict).
        vocabulary: the text tower's tokens; ``sequence_length``,
            ``input_shape`` (``(H, W, C)``), ``logit_scale`` (CLIP's learnt
            scale of the cosine similarities) likewise from the metadata.
        signatures: the SavedModel's signatures (``serving_default``,
            ``serve_uint8``, ``serve_bytes``, ``serve_text``).

    Example (a folder that holds no export is refused; ``export_dual_encoder``
    shows a full round trip):

    >>> import tempfile
    >>> from keras_contrastive.export import SavedDualEncoder
    >>> SavedDualEncoder(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: No exported encoder at ...
    """

    def __init__(self, path):
        self.version_dir = _version_dir(path)
        self.metadata = read_metadata(self.version_dir)
        if self.metadata.get("kind") != "dual_encoder":
            raise ValueError(
                f"{self.version_dir} is not a dual-encoder export (its metadata.json has no "
                f"\"kind\": \"dual_encoder\"; method {self.metadata.get('method')!r}): load an "
                "image encoder's export with load_encoder, or export the DualEncoder with "
                "export_dual_encoder.")
        try:
            self._loaded = tf.saved_model.load(self.version_dir)
        except Exception as error:  # TensorFlow's loader fails in many ways on damaged files
            raise _damaged_savedmodel(self.version_dir, error, "the dual encoder") from None
        self.signatures = self._loaded.signatures
        missing = sorted({SIGNATURE_NAME, UINT8_SIGNATURE, BYTES_SIGNATURE, TEXT_SIGNATURE}
                         - set(self.signatures))
        if missing:
            raise ValueError(f"{self.version_dir} lacks the signatures {missing} of a "
                             "dual-encoder export (written by export_dual_encoder).")
        self.vocabulary = list(self.metadata["vocabulary"])
        self.sequence_length = int(self.metadata["sequence_length"])
        self.input_shape = tuple(self.metadata["input_shape"])
        self.logit_scale = float(self.metadata["logit_scale"])
        self.projection_dim = int(self.metadata["projection_dim"])

    def embed_images(self, images, batch_size=256):
        """L2-normalised image embeddings ``[N, projection_dim]`` (NumPy) of float32
        images in [0, 1] at ``input_shape`` (``serving_default``), uint8 images
        of any size (``serve_uint8``) or encoded image files as bytes
        (``serve_bytes``), chosen by the dtype of ``images``."""
        if not tf.is_tensor(images):
            images = np.asarray(images)
        dtype = tf.as_dtype(images.dtype) if images.dtype != object else tf.string
        if dtype == tf.string:
            name, key = BYTES_SIGNATURE, BYTES_INPUT_NAME
        elif dtype == tf.uint8:
            name, key = UINT8_SIGNATURE, INPUT_NAME
        elif dtype.is_floating:
            name, key, images = SIGNATURE_NAME, INPUT_NAME, tf.cast(images, tf.float32)
        else:
            raise TypeError(f"embed_images takes float images in [0, 1], uint8 images or encoded "
                            f"image bytes; got dtype {dtype.name}.")
        return self._run(self.signatures[name], key, images, batch_size)

    def embed_texts(self, texts, batch_size=256):
        """L2-normalised text embeddings ``[N, projection_dim]`` (NumPy) of a list of
        strings (``serve_text``); a single string is a batch of one.  Anything
        but strings is refused (a ``TypeError``), rather than read as its text."""
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        if tf.is_tensor(texts):
            if texts.dtype != tf.string:
                raise TypeError(f"embed_texts takes strings; got a tensor of {texts.dtype.name}.")
            texts = texts.numpy()
        texts = np.asarray(texts, dtype=object).reshape(-1)
        for index, text in enumerate(texts):
            if not isinstance(text, (str, bytes)):
                raise TypeError(f"embed_texts takes strings; texts[{index}] is {text!r} "
                                f"({type(text).__name__}).")
        return self._run(self.signatures[TEXT_SIGNATURE], TEXT_INPUT_NAME,
                         tf.constant(texts.tolist(), tf.string), batch_size)

    def zero_shot(self, images, prompts):
        """CLIP's zero-shot classification: ``[N, K]`` probabilities of each image
        for the ``K`` class prompts (a softmax of ``logit_scale`` times the
        cosine similarities); ``.argmax(axis=1)`` is the predicted class."""
        logits = self.logit_scale * self.embed_images(images).astype(np.float64) @ (
            self.embed_texts(prompts).astype(np.float64).T)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _run(self, signature, key, batch, batch_size):
        count = int(tf.shape(batch)[0])
        if count == 0:
            return np.zeros((0, self.projection_dim), np.float32)
        return np.concatenate([signature(**{key: batch[i:i + batch_size]})[OUTPUT_NAME].numpy()
                               for i in range(0, count, batch_size)])


def load_dual_encoder(path):
    """Load a dual encoder written by :func:`export_dual_encoder` as a
    :class:`SavedDualEncoder` (``embed_images``, ``embed_texts``, ``zero_shot``).

    Args:
        path: the base directory given to ``export_dual_encoder`` (the highest
            numeric version is loaded) or a version directory.

    Raises ``ValueError`` for an export that is not a dual encoder's (an image
    encoder's: load it with :func:`load_encoder`) and ``FileNotFoundError``
    where there is no export.

    Example:

    >>> import tempfile
    >>> from keras_contrastive.export import load_dual_encoder
    >>> load_dual_encoder(tempfile.mkdtemp() + "/missing")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No exported encoder at ...: the directory does not exist.
    """
    return SavedDualEncoder(path)
