"""Image-text retrieval and zero-shot scoring: identical captions count as matches, and chance
is the exact expectation over every ranking."""
import itertools

import numpy as np

from keras_contrastive.evaluation import chance_recall, image_text_retrieval, zero_shot_accuracy


def test_chance_recall_is_the_mean_over_every_ranking():
    matches = np.array([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 1, 0]], bool)
    rankings = list(itertools.permutations(range(5)))
    for n in (1, 2, 3):
        exact = np.mean([[row[list(r[:n])].any() for r in rankings] for row in matches])
        assert chance_recall(matches, ns=(n,))[n] == round(float(exact), 4)


def test_identical_captions_are_all_correct_answers():
    """Texts 0 and 1 are the same caption: image 0 retrieving text 1 is a hit with
    ``texts``, a miss without them."""
    images = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    text_z = np.array([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.1]])
    texts = ["a red bag", "a red bag", "a blue coat"]
    with_texts = image_text_retrieval(images, text_z, texts, ns=(1,))
    without = image_text_retrieval(images, text_z, ns=(1,))
    assert with_texts["image_to_text"][1] == 1.0
    assert without["image_to_text"][1] == round(1 / 3, 4)
    assert with_texts["chance"]["image_to_text"][1] == round((2 / 3 + 2 / 3 + 1 / 3) / 3, 4)


def test_zero_shot_takes_the_nearest_prompt():
    prompts = np.array([[1.0, 0.0], [0.0, 1.0]])
    images = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert zero_shot_accuracy(images, prompts, [0, 1, 1]) == {"accuracy": round(2 / 3, 4),
                                                             "chance": round(2 / 3, 4)}
