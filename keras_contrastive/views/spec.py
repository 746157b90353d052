"""What a views dataset must look like to a method, checked before anything is traced.

The views layer defines the element structure (``make_views``: a dict
``{"global": (v1, v2, ...), "local": ..., "original": ..., "labels": ...,
"indices": ...}``, or ``{"images": ..., "labels": ..., "indices": ...}`` for
views made on the device); a method declares what it reads
(``needs_original_view``, ``needs_labels``, ``needs_indices``,
``reads_local_views``, ``checks_view_size``, its encoder's input) and
:func:`check_views` compares the two.  ``ContrastiveModel.fit`` calls it
through ``ContrastiveModel.check_views``.
"""
import numpy as np
import tensorflow as tf

__all__ = ["DEVICE_KEYS", "MASKS_KEY", "PER_IMAGE_KEYS", "VIEW_KEYS", "check_indices_spec",
           "check_labels_spec", "check_masks_spec", "check_per_image_spec", "check_views",
           "device_view_spec", "missing_original_message", "no_device_views_message",
           "views_expected_message"]

#: the keys a views dict may hold
VIEW_KEYS = ("global", "local", "original", "labels", "indices", "masks")
#: what ``make_views(augment_on="device")`` yields: the model makes the views
DEVICE_KEYS = ("images", "labels", "indices")
#: the keys that hold one integer per image of the batch, not views: the
#: labels (``make_views(labels=True)``) and each image's index in the data
#: set (``make_views(indices=True)``)
PER_IMAGE_KEYS = ("labels", "indices")
#: the key of the patch masks a masking view strategy adds (``views.PatchMasking``):
#: one boolean ``[batch, patches]`` per global view
MASKS_KEY = "masks"


def missing_original_message(name):
    """The error for method ``name`` given views without ``views["original"]``.

    Example:

    >>> from keras_contrastive.views.spec import missing_original_message
    >>> missing_original_message("LeOCLR").split(":")[0]
    "LeOCLR needs views['original'] (the whole image, resized, not cropped)"
    """
    return (f"{name} needs views['original'] (the whole image, resized, not cropped): build "
            "views with make_views(..., original_augment=simclr_augment(size, crop_scale=None, "
            "...)).")


def no_device_views_message(name):
    """The error for method ``name`` given images to make views of on the
    device but no ``device_views`` to make them.

    Example:

    >>> from keras_contrastive.views.spec import no_device_views_message
    >>> "device_views=views.ViewMaker(augment)" in no_device_views_message("SimCLR")
    True
    """
    return (f"the data yields batches of images ({{'images': ...}}, from make_views(..., "
            f"augment_on='device')) but {name} has no device_views to make views of them: "
            f"build it with {name}(..., device_views=views.ViewMaker(augment)).")


def views_expected_message(spec):
    """The error for data that is not views (``spec``: its element spec or
    element); ``(images, labels)`` pairs get their own explanation.

    Example:

    >>> from keras_contrastive.views.spec import views_expected_message
    >>> views_expected_message(("images", "labels")).split(":")[0]
    'labels passed where views are expected'
    """
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return (
            "labels passed where views are expected: the dataset yields "
            "(images, labels) pairs. Self-supervised models train on views: "
            "keras_contrastive.views.make_views(dataset, augment) builds them "
            "(labels are dropped)."
        )
    return (
        "expected a dict of views {'global': (view_1, view_2, ...)} as made by "
        f"keras_contrastive.views.make_views, got {spec}."
    )


def check_per_image_spec(key, spec, what):
    """Raises ``ValueError`` unless ``spec[key]`` is one integer per image
    ``[batch]``, as many as the views of ``spec["global"][0]``; ``what`` names
    the values in the message.  ``spec`` holds ``tf.TensorSpec`` or tensors.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.spec import check_per_image_spec
    >>> views = {"global": (tf.zeros([4, 8, 8, 1]),) * 2, "indices": tf.zeros([3], tf.int64)}
    >>> check_per_image_spec("indices", views, "image indices")
    Traceback (most recent call last):
    ...
    ValueError: views['indices'] has 3 image indices for batches of 4 views.
    """
    values, first = spec[key], spec["global"][0]
    if not (values.dtype.is_integer and values.shape.rank == 1):
        raise ValueError(f"views[{key!r}] must be integer {what} [batch], got {values}.")
    if None not in (values.shape[0], first.shape[0]) and values.shape[0] != first.shape[0]:
        raise ValueError(f"views[{key!r}] has {values.shape[0]} {what} for batches of "
                         f"{first.shape[0]} views.")


def check_labels_spec(name, spec):
    """Raises ``ValueError`` unless ``spec["labels"]`` are integer labels
    ``[batch]``, one per view of ``spec["global"][0]`` (method ``name``
    trains on labelled views).  ``spec`` holds ``tf.TensorSpec`` or tensors.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.spec import check_labels_spec
    >>> views = {"global": (tf.zeros([4, 8, 8, 1]),) * 2, "labels": tf.zeros([4], tf.int64)}
    >>> check_labels_spec("SupCon", views)  # fine: returns None
    >>> check_labels_spec("SupCon", {**views, "labels": tf.zeros([3], tf.int64)})
    Traceback (most recent call last):
    ...
    ValueError: views['labels'] has 3 class labels for batches of 4 views.
    """
    if "labels" not in spec:
        raise ValueError(
            f"{name} trains on labelled views: views['labels'] is missing. Build them with "
            "keras_contrastive.views.make_views(labelled_dataset, augment, labels=True), "
            "where the dataset yields (image, label) pairs.")
    check_per_image_spec("labels", spec, "class labels")


def check_indices_spec(name, spec):
    """Raises ``ValueError`` unless ``spec["indices"]`` holds each image's index
    in the data set, integers ``[batch]``, one per view of
    ``spec["global"][0]`` (method ``name`` keeps state per image: NPID's
    memory bank).  ``spec`` holds ``tf.TensorSpec`` or tensors.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.spec import check_indices_spec
    >>> views = {"global": (tf.zeros([4, 8, 8, 1]),) * 2}
    >>> check_indices_spec("NPID", {**views, "indices": tf.range(4, dtype=tf.int64)})  # fine
    >>> check_indices_spec("NPID", views)
    Traceback (most recent call last):
    ...
    ValueError: NPID keeps one entry per training image: views['indices'] is missing. ...
    """
    if "indices" not in spec:
        raise ValueError(
            f"{name} keeps one entry per training image: views['indices'] is missing. Build "
            "the views with keras_contrastive.views.make_views(dataset, augment, "
            "indices=True) (each image's position in the dataset).")
    check_per_image_spec("indices", spec, "image indices")


def check_masks_spec(name, spec, reads_masks):
    """Raises ``ValueError`` unless method ``name`` reads patch masks
    (``reads_masks``) and ``spec["masks"]`` holds one boolean ``[batch, N]``
    per global view.  ``spec`` holds ``tf.TensorSpec`` or tensors.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.views.spec import check_masks_spec
    >>> views = {"global": (tf.zeros([4, 8, 8, 1]),) * 2, "masks": (tf.zeros([4, 4], tf.bool),)}
    >>> check_masks_spec("MAE", views, reads_masks=True)
    Traceback (most recent call last):
    ...
    ValueError: views['masks'] holds 1 mask batches for 2 global views.
    """
    if not reads_masks:
        raise ValueError(f"{name} does not read patch masks (views['masks']): they would be "
                         "computed and ignored. Use a masked method (MAE) or views without "
                         "PatchMasking.")
    masks, global_views = spec[MASKS_KEY], spec["global"]
    if not isinstance(masks, (tuple, list)) or len(masks) != len(global_views):
        count = len(masks) if isinstance(masks, (tuple, list)) else "no tuple of"
        raise ValueError(f"views['masks'] holds {count} mask batches for "
                         f"{len(global_views)} global views.")
    for index, mask in enumerate(masks):
        batch = global_views[index].shape[0]
        if mask.dtype != tf.bool or mask.shape.rank != 2 or (
                None not in (batch, mask.shape[0]) and batch != mask.shape[0]):
            raise ValueError(f"views['masks'][{index}] must be boolean [batch, patches] for "
                             f"views of batch {batch}, got {mask}.")


def device_view_spec(spec, device_views, name):
    """The spec of the views ``device_views`` makes of ``spec["images"]``.

    Found by making the views of 2 blank images, so an augmentation that
    does not fit the images fails here, before training.  ``name`` is the
    method's, for the error messages.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import views
    >>> from keras_contrastive.views.spec import device_view_spec
    >>> maker = views.ViewMaker(views.simclr_augment(8, channels=1))
    >>> made = device_view_spec({"images": tf.TensorSpec([4, 8, 8, 1])}, maker, "SimCLR")
    >>> [v.shape.as_list() for v in made["global"]]
    [[4, 8, 8, 1], [4, 8, 8, 1]]
    """
    unknown = sorted(set(spec) - set(DEVICE_KEYS))
    if unknown:
        raise ValueError(f"unknown keys {unknown} beside 'images'; expected some of "
                         f"{DEVICE_KEYS}.")
    if device_views is None:
        raise ValueError(no_device_views_message(name))
    images = spec["images"]
    if images.shape.rank != 4 or None in images.shape[1:]:
        raise ValueError(f"views['images'] must be batches of images [batch, H, W, C] of a "
                         f"known size, got {images}.")
    if not images.dtype.is_floating:
        raise ValueError(f"views['images'] is {images.dtype.name}: images must be float in "
                         "[0, 1] (make_views converts uint8 images with x / 255).")
    try:
        made = device_views(tf.zeros([2] + images.shape[1:], images.dtype))
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise ValueError(f"{name}.device_views cannot make views of images "
                         f"{images.shape.as_list()}: {error}") from error
    views = tf.nest.map_structure(
        lambda v: tf.TensorSpec([images.shape[0]] + v.shape[1:], v.dtype), made)
    return {**views, **{key: spec[key] for key in PER_IMAGE_KEYS if key in spec}}


def check_views(dataset, model):
    """Validates a views dataset for ``model`` before training; raises ``ValueError``.

    Checks what can be known without running it: the element structure (a
    dict with a ``"global"`` tuple of at least 2 view batches, not
    ``(images, labels)``), the keys the method reads or would ignore
    (``model.needs_original_view``, ``model.needs_labels``,
    ``model.needs_indices``, ``model.reads_local_views``), image rank, dtype and channels against
    ``model.encoder`` (and the global views' size, where
    ``model.checks_view_size``), under several replicas a static batch size
    divisible by the replica count, the method's own refusal (``model.check_global_batch``)
    and emptiness.  Data of images for ``model.device_views`` is checked as
    the views it makes.  Datasets that are not a ``tf.data.Dataset``
    (distributed datasets, generators) are checked at trace time.

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive import backbones, models
    >>> from keras_contrastive.views.spec import check_views
    >>> model = models.SimCLR(backbones.small_cnn((8, 8, 1)))
    >>> x = tf.zeros([4, 8, 8, 1])
    >>> check_views(tf.data.Dataset.from_tensors({"global": (x, x)}), model)  # fine
    >>> check_views(tf.data.Dataset.from_tensors((x, tf.zeros([4]))), model)
    Traceback (most recent call last):
    ...
    ValueError: labels passed where views are expected: ...
    """
    if not isinstance(dataset, tf.data.Dataset):
        return
    name = type(model).__name__
    spec = dataset.element_spec
    if isinstance(spec, dict) and "images" in spec and "global" not in spec:
        spec = device_view_spec(spec, model.device_views, name)
    if not (isinstance(spec, dict) and "global" in spec):
        raise ValueError(views_expected_message(spec))
    unknown = sorted(set(spec) - set(VIEW_KEYS))
    if unknown:
        raise ValueError(f"unknown view keys {unknown}; expected some of {VIEW_KEYS}.")
    if model.needs_original_view and "original" not in spec:
        raise ValueError(missing_original_message(name))
    if model.needs_labels:
        check_labels_spec(name, spec)
    if model.needs_indices:
        check_indices_spec(name, spec)
    if MASKS_KEY in spec:
        check_masks_spec(name, spec, getattr(model, "reads_masks", False))
    if "local" in spec and not model.reads_local_views:
        raise ValueError(
            f"{name} does not use multi-crop local views (views['local']): "
            "they would be computed and ignored. Use MultiCrop(num_local=0), or a method "
            "that reads them (MoCo, KNNMoCo, SwAV, DINO).")
    global_views = spec["global"]
    if not isinstance(global_views, (tuple, list)) or len(global_views) < 2:
        raise ValueError(
            "views['global'] must be a tuple of at least 2 view batches, got "
            f"{global_views}."
        )
    expected = tuple(model.encoder.input_shape[1:])
    replicas = model.distribute_strategy.num_replicas_in_sync
    for key in sorted(set(spec) - set(PER_IMAGE_KEYS) - {MASKS_KEY}):
        views = spec[key] if isinstance(spec[key], (tuple, list)) else (spec[key],)
        for index, view in enumerate(views):
            _check_view(f"views[{key!r}][{index}]", view, key, expected, replicas,
                        model.checks_view_size)
            if key == "global" and index == 0 and view.shape[0] is not None:
                model.check_global_batch(view.shape[0])
    if dataset.cardinality() == 0:
        raise ValueError("the views dataset is empty (0 batches).")


def check_array_split(x, batch_size, replicas):
    """Refuses views given as arrays to ``fit`` whose batches would split unevenly
    across ``replicas`` (``batch_size``: ``fit``'s, Keras' default 32 when ``None``);
    raises ``ValueError`` naming the sizes.  Anything but arrays passes (a
    ``tf.data`` pipeline is checked by :func:`check_views`).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.views.spec import check_array_split
    >>> x = np.zeros([18, 8, 8, 1], "float32")
    >>> check_array_split({"global": (x, x)}, 8, replicas=2)  # 8, 8 and 2: even
    >>> check_array_split({"global": (x[:17], x[:17])}, 8, replicas=2)
    Traceback (most recent call last):
    ...
    ValueError: views of 17 examples in batches of 8 end with a batch of 1, which cannot be split evenly across 2 replicas; ...
    """
    leaves = tf.nest.flatten(x)
    if replicas == 1 or not leaves or not all(isinstance(v, np.ndarray) for v in leaves):
        return
    count, batch_size = len(leaves[0]), batch_size or 32
    last = count % batch_size
    if batch_size % replicas:
        raise ValueError(
            f"fit's batch_size={batch_size} cannot be split evenly across {replicas} "
            f"replicas; use a multiple of {replicas}.")
    if last % replicas:
        raise ValueError(
            f"views of {count} examples in batches of {batch_size} end with a batch of "
            f"{last}, which cannot be split evenly across {replicas} replicas; give fit a "
            f"number of examples whose remainder is a multiple of {replicas} (or a tf.data "
            "pipeline batched with drop_remainder=True).")


def _check_view(name, view, key, expected, replicas, checks_view_size):
    shape = tuple(view.shape)
    if len(shape) != 4:
        raise ValueError(
            f"{name} must be a batch of images [batch, height, width, "
            f"channels], got shape {shape}."
        )
    if not view.dtype.is_floating:
        raise ValueError(
            f"{name} is {view.dtype.name}: views must be float images in [0, 1] "
            "(make_views converts uint8 images with x / 255).")
    if checks_view_size and expected[-1] is not None and shape[-1] != expected[-1]:
        raise ValueError(
            f"{name} has {shape[-1]} channels but the encoder takes "
            f"{expected[-1]} (encoder input shape {expected})."
        )
    if (checks_view_size and key == "global" and None not in expected[:2]
            and None not in shape[1:3] and shape[1:3] != expected[:2]):
        raise ValueError(
            f"{name} is {shape[1]}x{shape[2]} but the encoder takes "
            f"{expected[0]}x{expected[1]} images."
        )
    if shape[0] is None and replicas > 1:
        raise ValueError(
            f"{name} has no fixed batch size (batched with drop_remainder=False?): under "
            f"{replicas} replicas a batch that is not a multiple of {replicas} (the last, "
            "smaller one) would split unevenly, and the losses assume equal shares. "
            f"Batch with drop_remainder=True (make_views' default) and a batch size that "
            f"is a multiple of {replicas}.")
    if shape[0] is not None and shape[0] % replicas:
        raise ValueError(
            f"the batch size {shape[0]} cannot be split evenly across "
            f"{replicas} replicas; use a multiple of {replicas}."
        )
