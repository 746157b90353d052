"""Scene captions: known answers on a hand-made scene, and determinism."""
import numpy as np

from keras_contrastive.data import Scenes, fashion_scene_captions, scene_captions


def _scene():
    """A 30 px grey canvas: a red 6x6 trouser (class 1) at the top left, a blue 8x8 bag
    (class 8) at the bottom right, a green 4x4 sneaker (class 7) at the centre."""
    image = np.full((1, 30, 30, 3), 90, np.uint8)
    mask = np.zeros((1, 30, 30), np.uint8)
    objects = [(1, (1, 2, 6, 6), (200, 30, 30)), (8, (20, 21, 8, 8), (20, 40, 220)),
               (7, (13, 13, 4, 4), (40, 180, 60))]
    classes, boxes, areas = np.full((1, 4), -1), np.full((1, 4, 4), -1), np.zeros((1, 4), int)
    for j, (label, (top, left, h, w), colour) in enumerate(objects):
        image[0, top:top + h, left:left + w] = colour
        mask[0, top:top + h, left:left + w] = 1 + label
        classes[0, j], boxes[0, j], areas[0, j] = label, (top, left, h, w), h * w
    return Scenes(image, mask, np.array([8]), classes, boxes, areas, np.zeros((1, 4), int))


def test_caption_names_count_colours_classes_and_positions_largest_first():
    assert scene_captions(_scene())[0] == (
        "a photo of three garments: a blue bag at the bottom right, a red trouser at the top "
        "left and a green sneaker at the centre")


def test_captions_follow_the_scenes_and_the_seed():
    images, captions = fashion_scene_captions("test", 6, size=32, seed=4)
    again = fashion_scene_captions("test", 6, size=32, seed=4)
    other = fashion_scene_captions("test", 6, size=32, seed=5)[1]
    np.testing.assert_array_equal(images, again[0])
    assert list(captions) == list(again[1]) and list(captions) != list(other)
    counts = ("one", "two", "three", "four")
    _, _, scenes = fashion_scene_captions("test", 6, size=32, seed=4, return_scenes=True)
    for caption, areas in zip(captions, scenes.areas):
        assert caption.split()[3] == counts[int((areas > 0).sum()) - 1]
