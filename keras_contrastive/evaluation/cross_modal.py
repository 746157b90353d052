"""Image-text evaluation of a dual encoder: retrieval both ways and zero-shot classification,
each with the score chance would get."""
import math

import numpy as np

from keras_contrastive.evaluation.retrieval import recall_at_n


def chance_recall(matches, ns=(1, 5)):
    """Expected Recall@N of a uniformly random ranking: a query with ``k`` correct
    items among ``M`` succeeds at ``N`` with ``1 - C(M - k, N) / C(M, N)``.

    Args:
        matches: boolean ``[Q, M]``, the correct database items of each query.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import chance_recall
    >>> chance_recall(np.eye(4, dtype=bool), ns=(1, 2))
    {1: 0.25, 2: 0.5}
    """
    matches = np.asarray(matches, bool)
    total = matches.shape[1]
    out = {}
    for n in ns:
        per_query = [1.0 - math.comb(total - k, n) / math.comb(total, n)
                     for k in matches.sum(axis=1)]
        out[int(n)] = round(float(np.mean(per_query)), 4)
    return out


def image_text_retrieval(image_embeddings, text_embeddings, texts=None, ns=(1, 5)):
    """Recall@N image -> text and text -> image over paired embeddings (row ``i`` of
    each the same pair), with chance's Recall@N of each direction.

    A retrieved item is correct when it is the query's own pair, or, with
    ``texts``, any pair whose text equals the query's (scenes with the same
    caption cannot be told apart by it).

    Returns:
        ``{"image_to_text": {N: r}, "text_to_image": {N: r}, "chance":
        {"image_to_text": {N: r}, "text_to_image": {N: r}}}``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import image_text_retrieval
    >>> images = np.eye(4, dtype="float32")
    >>> result = image_text_retrieval(images, images + 0.1, ns=(1,))
    >>> result["image_to_text"], result["text_to_image"], result["chance"]["image_to_text"]
    ({1: 1.0}, {1: 1.0}, {1: 0.25})
    """
    images, text_z = np.asarray(image_embeddings), np.asarray(text_embeddings)
    if len(images) != len(text_z):
        raise ValueError(f"image_text_retrieval: {len(images)} images and {len(text_z)} texts; "
                         "the rows must be pairs.")
    if texts is None:
        matches = np.eye(len(images), dtype=bool)
    else:
        texts = np.asarray(texts, dtype=object).astype(str)
        matches = texts[:, None] == texts[None, :]
    return {"image_to_text": recall_at_n(images, text_z, matches, ns),
            "text_to_image": recall_at_n(text_z, images, matches.T, ns),
            "chance": {"image_to_text": chance_recall(matches, ns),
                       "text_to_image": chance_recall(matches.T, ns)}}


def zero_shot_accuracy(image_embeddings, prompt_embeddings, labels):
    """Zero-shot classification: each image takes the class whose prompt's embedding
    is the most cosine-similar.  Returns ``{"accuracy", "chance"}``, chance the
    share of the most frequent class (the best constant guess).

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import zero_shot_accuracy
    >>> prompts = np.eye(3, dtype="float32")
    >>> zero_shot_accuracy(prompts[[0, 1, 2, 2]] + 0.1, prompts, np.array([0, 1, 2, 0]))
    {'accuracy': 0.75, 'chance': 0.5}
    """
    images = np.asarray(image_embeddings, np.float64)
    prompts = np.asarray(prompt_embeddings, np.float64)
    images /= np.maximum(np.linalg.norm(images, axis=1, keepdims=True), 1e-12)
    prompts /= np.maximum(np.linalg.norm(prompts, axis=1, keepdims=True), 1e-12)
    labels = np.asarray(labels).astype(np.int64)
    predicted = (images @ prompts.T).argmax(axis=1)
    return {"accuracy": round(float(np.mean(predicted == labels)), 4),
            "chance": round(float(np.bincount(labels).max() / len(labels)), 4)}


def evaluate_dual_encoder(model, images, texts, labels=None, prompts=None, ns=(1, 5)):
    """Retrieval (:func:`image_text_retrieval`, identical captions count as
    matches) and, given ``labels`` and one prompt per class, zero-shot accuracy
    (:func:`zero_shot_accuracy`) of a :class:`keras_contrastive.models.DualEncoder`.

    Example:

    >>> from keras_contrastive import backbones, data, models
    >>> from keras_contrastive.evaluation import evaluate_dual_encoder
    >>> from keras_contrastive.models.dual_encoder import text_vocabulary
    >>> images, captions, scenes = data.fashion_scene_captions("test", 16, size=32,
    ...                                                        return_scenes=True)
    >>> model = models.DualEncoder(backbones.small_cnn((32, 32, 3)), text_vocabulary(captions),
    ...                            projection_dim=8, text_dim=8, text_depth=1, text_num_heads=2)
    >>> result = evaluate_dual_encoder(model, images, captions, scenes.labels,
    ...                                data.class_prompts())
    >>> sorted(result), sorted(result["zero_shot"])
    (['retrieval', 'zero_shot'], ['accuracy', 'chance'])
    """
    image_z = model.embed_images(images)
    result = {"retrieval": image_text_retrieval(image_z, model.embed_texts(texts), texts, ns)}
    if labels is not None and prompts is not None:
        result["zero_shot"] = zero_shot_accuracy(image_z, model.embed_texts(prompts), labels)
    return result
