"""Captions with known answers for the scene-centric images: paired data for a dual encoder.

Each scene of :func:`fashion_scenes` gets a caption written from its own
ground truth, garment by garment, the main one (most visible pixels) first:

    "a photo of two garments: a red trouser at the top left and a blue bag at the bottom right"

* the **count** of garments visible in the scene (``one`` .. ``four``);
* each garment's **class** (``CAPTION_CLASS_NAMES``: one word per
  Fashion-MNIST class, free of punctuation so a tokenizer keeps it whole);
* its **colour**: the name of the hue of its tint (``COLOUR_NAMES``), read
  from the mean colour of its own pixels in the image (its mask in its box:
  the tint scaled by the garment's grey shading, so the hue is the tint's);
* its **position**: the cell of a 3 x 3 grid holding its box's centre
  (``top left``, ``top``, ``top right``, ``left``, ``centre``, ...).

A caption is a pure function of the scene's annotations and pixels, so the
same arguments (and ``seed``) give the same captions; :func:`scene_captions`
captions any :class:`Scenes`.  Zero-shot prompts for the main garment read
``"a photo of a {CAPTION_CLASS_NAMES[label]}"``.

Example:

>>> from keras_contrastive.data import fashion_scene_captions
>>> images, captions = fashion_scene_captions("test", 3, size=32, seed=0)
>>> images.shape, captions.shape
((3, 32, 32, 3), (3,))
>>> str(captions[0]).startswith("a photo of ")
True
"""
import colorsys

import numpy as np

__all__ = ["CAPTION_CLASS_NAMES", "COLOUR_NAMES", "fashion_scene_captions", "scene_captions",
           "class_prompts"]

#: one word per Fashion-MNIST class (0-9), as captions and prompts name it
CAPTION_CLASS_NAMES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                       "sneaker", "bag", "boot")
#: ``(name, upper bound of its hue in degrees)``, in order round the colour wheel
COLOUR_NAMES = (("red", 15), ("orange", 45), ("yellow", 70), ("green", 165), ("cyan", 195),
                ("blue", 260), ("purple", 290), ("pink", 340), ("red", 360))
_COUNTS = ("one garment", "two garments", "three garments", "four garments")
_ROWS, _COLUMNS = ("top", "", "bottom"), ("left", "", "right")


def _colour_name(rgb):
    hue = colorsys.rgb_to_hsv(*(float(c) for c in rgb))[0] * 360.0
    return next(name for name, bound in COLOUR_NAMES if hue < bound)


def _position(box, size):
    top, left, height, width = box
    row = min(int(3 * (top + height / 2) / size), 2)
    column = min(int(3 * (left + width / 2) / size), 2)
    words = " ".join(word for word in (_ROWS[row], _COLUMNS[column]) if word)
    return words or "centre"


def _join(phrases):
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def scene_captions(scenes):
    """One caption per scene of a :class:`Scenes`, from its ground truth (module docstring).

    Returns:
        A NumPy array of Python strings ``[N]``.

    Example:

    >>> from keras_contrastive.data import fashion_scenes, scene_captions
    >>> scenes = fashion_scenes("test", 2, objects=(1, 1), seed=0)
    >>> caption = str(scene_captions(scenes)[0])
    >>> caption.split(": ")[0], caption.split()[-1] in ("left", "right", "top", "bottom", "centre")
    ('a photo of one garment', True)
    """
    size = scenes.images.shape[1]
    captions = []
    for i in range(len(scenes)):
        present = [j for j in np.argsort(-scenes.areas[i], kind="stable") if scenes.areas[i, j] > 0]
        phrases = []
        for j in present:
            top, left, height, width = scenes.boxes[i, j]
            label = int(scenes.object_classes[i, j])
            own = scenes.masks[i, top:top + height, left:left + width] == 1 + label
            pixels = scenes.images[i, top:top + height, left:left + width][own]
            colour = _colour_name(pixels.astype(np.float64).mean(axis=0) / 255.0)
            phrases.append(f"a {colour} {CAPTION_CLASS_NAMES[label]} at the "
                           f"{_position(scenes.boxes[i, j], size)}")
        captions.append(f"a photo of {_COUNTS[len(present) - 1]}: {_join(phrases)}")
    return np.array(captions, dtype=object)


def class_prompts(template="a photo of a {}"):
    """The zero-shot prompts of the ten classes, ``template`` filled with each
    of ``CAPTION_CLASS_NAMES``.

    Example:

    >>> from keras_contrastive.data import class_prompts
    >>> class_prompts()[:2]
    ['a photo of a tshirt', 'a photo of a trouser']
    """
    return [template.format(name) for name in CAPTION_CLASS_NAMES]


def fashion_scene_captions(split="train", n=None, size=48, seed=0, return_scenes=False,
                           **scene_options):
    """``(images, captions)``: scenes of :func:`fashion_scenes` and a caption of each
    from its own ground truth (:func:`scene_captions`); deterministic in ``seed``.

    Args:
        split, n, size, seed: as :func:`fashion_scenes` (garments of the train or
            test split; the same arguments give the same scenes and captions).
        return_scenes: also return the :class:`Scenes` (labels, boxes, masks).
        **scene_options: :func:`fashion_scenes`' other arguments (``objects``, ``scale``...).

    Returns:
        uint8 images ``[N, S, S, 3]`` and an array of strings ``[N]`` (and the
        ``Scenes`` if asked).

    Example:

    >>> from keras_contrastive.data import fashion_scene_captions
    >>> images, captions, scenes = fashion_scene_captions("train", 4, size=32, seed=1,
    ...                                                   return_scenes=True)
    >>> again = fashion_scene_captions("train", 4, size=32, seed=1)[1]
    >>> bool((captions == again).all()), scenes.labels.shape
    (True, (4,))
    """
    from keras_contrastive.data.scenes import fashion_scenes

    scenes = fashion_scenes(split, n, size=size, seed=seed, **scene_options)
    captions = scene_captions(scenes)
    return (scenes.images, captions, scenes) if return_scenes else (scenes.images, captions)
