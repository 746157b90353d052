"""Arms x seeds: the papers' claims measured with statistics that can fail.

A *comparison* trains several *arms* (``PretrainConfig`` changes: a method,
a view strategy, a data set) with the same seeds and equal compute (the same
epochs, batch and images), scores each run and that seed's random-init
encoder with one evaluator, and writes one JSON line per (arm, seed) as soon
as it is done, so an interrupted comparison resumes where it stopped.

* ``scene_evaluator``: the scene-centric protocol.  Whatever the arm
  pretrained on, it is scored on the same scenes (``data.fashion_scenes``):
  kNN and linear probe on the main garment's class, the random-crop test
  (LeOCLR Table 6), and segmentation transfer (``evaluation.segmentation_transfer``,
  mIoU of a linear head on the frozen feature map).
* ``summarise``: mean and standard deviation over the seeds of every metric
  and of its gain over the same seed's random-init encoder.
* ``verdict``: a claim "A beats B on metric m" is **reproduced** when
  ``mean(A) - mean(B)`` exceeds the spread ``sd(A) + sd(B)``, **contradicted**
  when ``mean(B) - mean(A)`` does, and **inconclusive** otherwise (the
  one-standard-deviation intervals overlap).  The paired differences (same
  seed) are reported beside it.

The recipes ``recipes/scenes_*.py`` run ``EXPERIMENTS`` with three seeds by
default, each seed scored against its own random-init encoder; one JSON line
per (arm, seed) goes to ``--records`` as soon as it is done, and a re-run
with the same file resumes after the last finished run (``--report_only``
prints the tables of what is recorded).  Default sizes: 48-px scenes,
ResNet-18 width 8, 10,000 scenes, 5 epochs, batch 256.

Example:

>>> from keras_contrastive.seeded_comparison import summarise, verdict
>>> records = [{"arm": "A", "seed": s, "miou": 0.30 + 0.01 * s, "random_miou": 0.2}
...            for s in range(3)]
>>> records += [{"arm": "B", "seed": s, "miou": 0.20 + 0.01 * s, "random_miou": 0.2}
...             for s in range(3)]
>>> summary = summarise(records, ["miou"])
>>> round(summary["A"]["miou"]["mean"], 4), round(summary["A"]["miou"]["sd"], 4)
(0.31, 0.01)
>>> verdict(records, "A", "B", "miou")["verdict"]
'reproduced'
"""
import dataclasses
import hashlib
import json
import os
import time

import numpy as np

__all__ = ["Arm", "Claim", "EXPERIMENTS", "scene_evaluator", "run_arms", "summarise", "verdict",
           "format_summary", "format_verdicts", "read_records", "define_scene_flags",
           "scene_base_config", "run_experiment", "run_recipe"]


@dataclasses.dataclass(frozen=True)
class Arm:
    """One row of a comparison: a name and the ``PretrainConfig`` fields it changes.

    >>> from keras_contrastive.seeded_comparison import Arm
    >>> Arm("MoCo-v2", {"method": "moco_v2"}).changes["method"]
    'moco_v2'
    """

    name: str
    changes: dict


@dataclasses.dataclass(frozen=True)
class Claim:
    """A paper's claim: arm ``better`` scores higher than arm ``worse`` on ``metric``
    (``kind="better"``), or at least as high (``kind="not_worse"``: "on par or better").

    ``lower_is_better``: the metric is a cost (the random-crop test's
    ``drop``): ``better`` is claimed to score lower.

    >>> from keras_contrastive.seeded_comparison import Claim
    >>> Claim("LeOCLR > MoCo-v2 (kNN)", "LeOCLR", "MoCo-v2", "knn_acc").metric
    'knn_acc'
    """

    text: str
    better: str
    worse: str
    metric: str
    kind: str = "better"
    lower_is_better: bool = False


def scene_evaluator(train_images=2000, test_images=1000, segmentation_images=1000,
                    segmentation_epochs=20, knn_k=50, scenes="fashion_scenes",
                    random_crop=True, pointing_game=False, segment_retrieval=False):
    """An evaluator for ``pretraining.pretrain``: every arm is scored on the same scenes.

    kNN (``knn_k`` neighbours) and the L-BFGS linear probe on the main
    garment's class (``train_images`` / ``test_images`` scenes), the
    random-crop test of that probe (``random_crop``: ``center_crop_acc`` on
    whole images, ``random_crop_acc``, ``drop``) and segmentation transfer
    (``seg_miou``, ``seg_pixel_acc``: a linear head trained for
    ``segmentation_epochs`` on ``segmentation_images`` training scenes,
    scored on the ``test_images`` test scenes).  The evaluator ignores the
    labelled arrays ``pretrain`` passes (those of the pretraining data set),
    so object-centric and long-tailed arms are scored like the others.
    ``scenes``: a name of ``data.SCENE_DATASETS`` or a pair of
    ``data.Scenes`` ``(train, test)``.  ``pointing_game``: the class
    activation maps of the linear probe for each test scene's true class,
    scored by whether they peak on the main garment's box (``pointing_game``;
    chance is the box's share of the image, ``pointing_chance``).
    ``segment_retrieval``: "Revisiting..." A.7 on the scenes' masks without
    training (``segret_miou``; K-means, k = 8, on 200 training / 200 test
    scenes).

    Example:

    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.pretraining import PretrainConfig
    >>> from keras_contrastive.data import fashion_scenes
    >>> from keras_contrastive.seeded_comparison import scene_evaluator
    >>> scenes = (fashion_scenes("train", 200), fashion_scenes("test", 100))
    >>> evaluate = scene_evaluator(200, 100, 100, segmentation_epochs=1, scenes=scenes,
    ...                            random_crop=False, pointing_game=True)
    >>> metrics = evaluate(backbones.resnet18((48, 48, 3), width=4), None, None, PretrainConfig())
    >>> sorted(metrics)  # doctest: +NORMALIZE_WHITESPACE
    ['knn_acc', 'knn_top5_acc', 'linear_acc', 'pointing_chance', 'pointing_game', 'seg_miou',
     'seg_pixel_acc']
    """
    from keras_contrastive.data.scenes import named_scenes

    def evaluate(encoder, train, test, config):
        from keras_contrastive import evaluation
        from keras_contrastive.evaluation import evaluate_encoder, segmentation_transfer

        del train, test  # the pretraining data set's own labels: not the protocol's
        train_scenes, test_scenes = ((named_scenes(scenes, "train"), named_scenes(scenes, "test"))
                                     if isinstance(scenes, str) else scenes)
        images, labels, masks = train_scenes.images, train_scenes.labels, train_scenes.masks
        test_all = test_scenes.images, test_scenes.labels, test_scenes.masks
        protocols = ("knn", "linear") + (("random_crop",) if random_crop else ())
        metrics = evaluate_encoder(
            encoder, (images[:train_images], labels[:train_images]),
            (test_all[0][:test_images], test_all[1][:test_images]), protocols,
            knn_k=knn_k, knn_temperature=config.knn_temperature, seed=config.seed,
            center_fraction=1.0)
        segmentation = segmentation_transfer(
            encoder, (images[:segmentation_images], masks[:segmentation_images]),
            (test_all[0][:test_images], test_all[2][:test_images]), num_classes=11,
            epochs=segmentation_epochs, seed=config.seed)
        metrics.update(seg_miou=segmentation["miou"], seg_pixel_acc=segmentation["pixel_acc"])
        if pointing_game:
            test_pairs = (test_all[0][:test_images], test_all[1][:test_images])
            train_features, train_labels = evaluation.extract_features(
                encoder, (images[:train_images], labels[:train_images]))
            test_features, test_labels = evaluation.extract_features(encoder, test_pairs)
            probe = evaluation.linear_probe_from_features(
                train_features, train_labels, test_features, test_labels, seed=config.seed,
                return_details=True)
            maps = evaluation.class_activation_maps(
                encoder, evaluation.probe_classifier(probe), test_pairs[0],
                class_ids=test_pairs[1])["maps"]
            boxes = test_scenes.main_boxes()[:test_images]
            metrics["pointing_game"] = evaluation.pointing_game(maps, boxes, tolerance=0)
            metrics["pointing_chance"] = float(np.mean(boxes[:, 2] * boxes[:, 3])
                                               / np.prod(maps.shape[1:]))
        if segment_retrieval:
            retrieval = evaluation.segment_retrieval(
                encoder, (images[:200], masks[:200]),
                (test_all[0][:200], test_all[2][:200]), k_clusters=8, num_classes=11,
                seed=config.seed)
            metrics["segret_miou"] = retrieval["miou"]
        return metrics

    evaluate.ignores_pretraining_data = True  # what _reuse_equal_encoders may key on
    return evaluate


def _weights_digest(model):
    """SHA-256 of every weight of ``model`` (values, dtypes and shapes, in order)."""
    import keras

    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _reuse_equal_encoders(evaluator, log=print):
    """``evaluator``, run once per bit-identical encoder and settings.

    The arms of a comparison share each seed's random-init encoder (the same
    seed builds the same backbone), so its evaluation is the same in every arm:
    it is run for the first arm and copied into the others.  The key is the
    SHA-256 of every weight of the encoder with the seed and kNN temperature
    the evaluator reads and, unless the evaluator says it ignores them
    (``ignores_pretraining_data``), the evaluation data's settings; any
    difference in any weight is a new evaluation.
    """
    cache = {}

    def evaluate(encoder, train, test, config):
        data = (None if getattr(evaluator, "ignores_pretraining_data", False) else
                (config.dataset, config.image_size, config.eval_train_subset,
                 config.eval_test_subset))
        key = (_weights_digest(encoder), config.seed, config.knn_temperature, data)
        if key in cache:
            log("The same encoder (bit for bit) was evaluated in an earlier arm: "
                "its figures are reused")
        else:
            cache[key] = evaluator(encoder, train, test, config)
        return dict(cache[key])

    return evaluate


def read_records(path):
    """The JSON lines of a comparison (``[]`` if the file does not exist yet).

    >>> from keras_contrastive.seeded_comparison import read_records
    >>> read_records("/nonexistent/records.jsonl")
    []
    """
    if not path or not os.path.exists(path):
        return []
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def run_arms(base, arms, seeds, evaluator, records_path, verbose=2, log=print):
    """Pretrains every arm with every seed (seed-major), one JSON line each; returns all records.

    Each seed's random-init encoder is evaluated once, not once per arm,
    when the arms build it bit for bit the same (``_reuse_equal_encoders``).
    Records already in ``records_path`` with the same arm, seed and
    configuration are kept and not run again (resume); one whose
    configuration differs is refused, naming the field, so a file never
    mixes protocols.

    Example (not run: it trains):

    .. code-block:: python

        records = run_arms(PRESETS["quality"].replace(dataset="fashion_scenes"),
                           [Arm("MoCo-v2", {"method": "moco_v2"})], [0, 1, 2],
                           scene_evaluator(), "moco.jsonl")
    """
    from keras_contrastive.pretraining import pretrain

    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be unique, got {names}.")
    records = read_records(records_path)
    done = {(r["arm"], r["seed"]): r for r in records}
    evaluator = _reuse_equal_encoders(evaluator, log)
    plan = []  # every run's settings, checked against the records before any training
    for seed in seeds:
        for arm in arms:
            config = base.replace(**arm.changes, seed=seed)
            settings = json.loads(json.dumps(dataclasses.asdict(config), default=list))
            if (arm.name, seed) in done:
                old = done[(arm.name, seed)]["config"]
                changed = sorted(k for k in settings if old.get(k) != settings[k])
                if changed:
                    raise ValueError(
                        f"{records_path} holds arm {arm.name!r} seed {seed} run with other "
                        "settings (" + ", ".join(f"{k}: {old.get(k)!r} -> {settings[k]!r}"
                                                 for k in changed) + "); use another file.")
            plan.append((seed, arm, config, settings))
    for seed, arm, config, settings in plan:
        if (arm.name, seed) in done:
            log(f"--- {arm.name}, seed {seed}: done already (resumed)")
            continue
        log(f"\n=== {arm.name}, seed {seed}")
        start = time.perf_counter()
        result = pretrain(config, verbose=verbose, evaluator=evaluator, log=log)
        history = {k: [float(v) for v in values] for k, values in result.history.items()}
        record = {"arm": arm.name, "seed": seed, **result.metrics,
                  "seconds": time.perf_counter() - start, "train_seconds": result.seconds,
                  "pairs_per_s": result.pairs_per_s, "loss": history.get("loss"),
                  "embedding_std": history.get("embedding_std"), "config": settings}
        records.append(record)
        if records_path:
            os.makedirs(os.path.dirname(os.path.abspath(records_path)), exist_ok=True)
            with open(records_path, "a") as file:
                file.write(json.dumps(record) + "\n")
        log(f"{arm.name}, seed {seed}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in result.metrics.items()))
    return records


def summarise(records, metrics):
    """``{arm: {metric: {"mean", "sd", "n", "gain_mean", "gain_sd"}}}`` over the seeds.

    ``sd`` is the sample standard deviation (``ddof=1``; 0 for one seed);
    ``gain`` is ``metric - random_metric`` of the same seed's random-init
    encoder, where the record has it.  Arms keep their first-seen order.

    >>> from keras_contrastive.seeded_comparison import summarise
    >>> summarise([{"arm": "A", "seed": 0, "knn_acc": 0.5, "random_knn_acc": 0.4}],
    ...           ["knn_acc"])["A"]["knn_acc"]["gain_mean"]
    0.09999999999999998
    """
    summary = {}
    for record in records:
        summary.setdefault(record["arm"], {})
    for arm in summary:
        rows = [r for r in records if r["arm"] == arm]
        summary[arm] = {}
        for metric in metrics:
            values = np.array([r[metric] for r in rows if metric in r], np.float64)
            if not len(values):
                continue
            gains = np.array([r[metric] - r[f"random_{metric}"] for r in rows
                              if metric in r and f"random_{metric}" in r], np.float64)
            summary[arm][metric] = {
                "n": len(values), "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "gain_mean": float(gains.mean()) if len(gains) else None,
                "gain_sd": float(gains.std(ddof=1)) if len(gains) > 1 else None}
    return summary


MIN_SEEDS = 3  # the project's rule: a comparison has at least three seeds per arm


def verdict(records, better, worse, metric, kind="better", lower_is_better=False,
            min_seeds=MIN_SEEDS):
    """Whether ``better`` beats ``worse`` on ``metric`` beyond the seeds' spread.

    Returns ``{"verdict", "difference", "spread", "paired_mean", "paired_sd", "n"}``
    (``difference`` is ``mean(better) - mean(worse)``, negated when
    ``lower_is_better``).  For ``kind="better"`` the verdict is
    ``"reproduced"`` when the difference exceeds the spread
    ``sd(better) + sd(worse)``, ``"contradicted"`` when its opposite does,
    else ``"inconclusive"``.  For ``kind="not_worse"`` (a claim of "on par or
    better") it is ``"reproduced (better)"`` beyond the spread,
    ``"reproduced (on par)"`` within it, ``"contradicted"`` when ``worse``
    is ahead beyond it.  ``"not measured"`` when an arm has fewer than two
    seeds; ``"no verdict (n seeds)"`` when one has fewer than ``min_seeds``
    (the numbers are still computed: a partial run's table shows them, but
    two seeds do not make a verdict).

    >>> from keras_contrastive.seeded_comparison import verdict
    >>> records = [{"arm": a, "seed": s, "m": v} for a, vs in (("A", [1, 2, 3]), ("B", [2, 3, 4]))
    ...            for s, v in enumerate(vs)]
    >>> verdict(records, "A", "B", "m")["verdict"]
    'inconclusive'
    >>> verdict([r for r in records if r["seed"] < 2], "A", "B", "m")["verdict"]
    'no verdict (2 seeds)'
    """
    a = {r["seed"]: r[metric] for r in records if r["arm"] == better and metric in r}
    b = {r["seed"]: r[metric] for r in records if r["arm"] == worse and metric in r}
    if len(a) < 2 or len(b) < 2:
        return {"verdict": "not measured", "n": min(len(a), len(b))}
    sign = -1.0 if lower_is_better else 1.0
    va, vb = np.array(list(a.values())), np.array(list(b.values()))
    difference = sign * float(va.mean() - vb.mean())
    spread = float(va.std(ddof=1) + vb.std(ddof=1))
    paired = sign * np.array([a[s] - b[s] for s in sorted(set(a) & set(b))])
    n = int(min(len(va), len(vb)))
    if n < min_seeds:
        outcome = f"no verdict ({n} seeds)"
    elif difference > spread:
        outcome = "reproduced" if kind == "better" else "reproduced (better)"
    elif -difference > spread:
        outcome = "contradicted"
    else:
        outcome = "inconclusive" if kind == "better" else "reproduced (on par)"
    return {"verdict": outcome, "difference": difference, "spread": spread,
            "paired_mean": float(paired.mean()) if len(paired) else None,
            "paired_sd": float(paired.std(ddof=1)) if len(paired) > 1 else None,
            "n": n}


_TITLES = {"knn_acc": "kNN", "linear_acc": "linear", "seg_miou": "seg mIoU",
           "segret_miou": "segment retrieval mIoU", "pointing_game": "CAM pointing",
           "center_crop_acc": "whole image", "random_crop_acc": "random crop", "drop": "drop"}


def _mean_sd(mean, sd, n, seeds, sign):
    """``mean ± sd``; where ``n`` is under the row's ``seeds``, how many seeds (one
    seed: no spread to show)."""
    text = f"{mean:{sign}.4f}" if n == 1 else f"{mean:{sign}.4f} ± {sd:.4f}"
    if n < seeds:
        text += f" ({n} seed{'s' if n > 1 else ''})"
    return text


def format_summary(summary, metrics, random_row=True):
    """A markdown table: one row per arm, ``mean ± sd`` (and the gain over random init).

    >>> from keras_contrastive.seeded_comparison import format_summary, summarise
    >>> rows = [{"arm": "A", "seed": s, "knn_acc": v, "random_knn_acc": 0.4}
    ...         for s, v in enumerate([0.5, 0.6])]
    >>> print(format_summary(summarise(rows, ["knn_acc"]), ["knn_acc"]))
    | arm | seeds | kNN | kNN gain over random init |
    |---|---|---|---|
    | A | 2 | 0.5500 ± 0.0707 | +0.1500 ± 0.0707 |

    A figure measured on fewer seeds than its row's says on how many (no ``± 0``):

    >>> rows[0]["linear_acc"] = 0.7  # seed 1 did not measure it
    >>> print(format_summary(summarise(rows, ["knn_acc", "linear_acc"]),
    ...                      ["knn_acc", "linear_acc"], random_row=False))
    | arm | seeds | kNN | linear |
    |---|---|---|---|
    | A | 2 | 0.5500 ± 0.0707 | 0.7000 (1 seed) |
    """
    header = ["arm", "seeds"]
    for metric in metrics:
        header.append(_TITLES.get(metric, metric))
        if random_row:
            header.append(f"{_TITLES.get(metric, metric)} gain over random init")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arm, figures in summary.items():
        seeds = max((f["n"] for f in figures.values()), default=0)
        cells = [arm, str(seeds)]
        for metric in metrics:
            f = figures.get(metric)
            cells.append(_mean_sd(f["mean"], f["sd"], f["n"], seeds, "") if f else "-")
            if random_row:
                cells.append(_mean_sd(f["gain_mean"], f["gain_sd"] or 0.0, f["n"], seeds, "+")
                             if f and f["gain_mean"] is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_verdicts(records, claims):
    """A markdown table of the claims' verdicts with their numbers.

    >>> from keras_contrastive.seeded_comparison import Claim, format_verdicts
    >>> records = [{"arm": a, "seed": s, "m": v}
    ...            for a, vs in (("A", [3, 4, 3]), ("B", [1, 1, 2])) for s, v in enumerate(vs)]
    >>> print(format_verdicts(records, [Claim("A > B", "A", "B", "m")]))
    | claim | metric | difference of means | spread (sd + sd) | paired difference | verdict |
    |---|---|---|---|---|---|
    | A > B | m | +2.0000 | 1.1547 | +2.0000 ± 1.0000 | reproduced |
    """
    lines = ["| claim | metric | difference of means | spread (sd + sd) | paired difference "
             "| verdict |", "|---|---|---|---|---|---|"]
    for claim in claims:
        v = verdict(records, claim.better, claim.worse, claim.metric, claim.kind,
                    claim.lower_is_better)
        if v["verdict"] == "not measured":
            lines.append(f"| {claim.text} | {claim.metric} | - | - | - | not measured |")
            continue
        paired = (f"{v['paired_mean']:+.4f} ± {v['paired_sd']:.4f}"
                  if v["paired_sd"] is not None else "-")
        lines.append(f"| {claim.text} | {claim.metric} | {v['difference']:+.4f} | "
                     f"{v['spread']:.4f} | {paired} | {v['verdict']} |")
    return "\n".join(lines)


# --- the scene-centric experiments (issue: the papers' claims where they should hold) ------

# "Revisiting..." Table 4, each row adding one modification (as recipes/revisiting_ablation.py)
_MC = {"local_crops": 4}
_CC = {**_MC, "min_overlap": 0.2}
_M = {**_CC, "key_momentum": 0.98}
_A_PLUS = {**_M, "stronger": True}

EXPERIMENTS = {
    # 1. LeOCLR (Table 4 and Table 6) against its baselines at equal settings
    "leoclr": {
        "doc": "LeOCLR (MoCo-v2 variant and end-to-end) against MoCo-v2 and SimCLR",
        "arms": [Arm("MoCo-v2", {"method": "moco_v2"}), Arm("LeOCLR", {"method": "leoclr"}),
                 Arm("SimCLR", {"method": "simclr"}),
                 Arm("LeOCLR end-to-end", {"method": "simclr", "anchor": "original"})],
        "claims": [
            Claim("LeOCLR > MoCo-v2 (kNN)", "LeOCLR", "MoCo-v2", "knn_acc"),
            Claim("LeOCLR > MoCo-v2 (linear)", "LeOCLR", "MoCo-v2", "linear_acc"),
            Claim("LeOCLR > MoCo-v2 (segmentation)", "LeOCLR", "MoCo-v2", "seg_miou"),
            Claim("LeOCLR > MoCo-v2 on random crops (Table 6)", "LeOCLR", "MoCo-v2",
                  "random_crop_acc"),
            Claim("LeOCLR loses less on random crops (Table 6)", "LeOCLR", "MoCo-v2", "drop",
                  lower_is_better=True),
            Claim("LeOCLR e2e > SimCLR (kNN)", "LeOCLR end-to-end", "SimCLR", "knn_acc"),
            Claim("LeOCLR e2e > SimCLR (linear)", "LeOCLR end-to-end", "SimCLR", "linear_acc"),
            Claim("LeOCLR e2e > SimCLR (segmentation)", "LeOCLR end-to-end", "SimCLR",
                  "seg_miou"),
            Claim("LeOCLR e2e loses less on random crops", "LeOCLR end-to-end", "SimCLR", "drop",
                  lower_is_better=True)],
        # the probe's accuracy on whole images is linear_acc (center_fraction=1)
        "metrics": ["knn_acc", "linear_acc", "seg_miou", "random_crop_acc", "drop"]},
    # 2. "Revisiting..." Table 4 on scenes
    "revisiting": {
        "doc": '"Revisiting..." Table 4: MoCo -> + MC -> + CC -> + m -> + A+ -> + kNN',
        "arms": [Arm("MoCo", {"method": "moco_v2"}), Arm("+ MC", {"method": "moco_v2", **_MC}),
                 Arm("+ CC", {"method": "moco_v2", **_CC}),
                 Arm("+ m", {"method": "moco_v2", **_M}),
                 Arm("+ A+", {"method": "moco_v2", **_A_PLUS}),
                 Arm("+ kNN", {"method": "knn_moco", **_A_PLUS})],
        "claims": [Claim(f"{b} > {a} ({m})", b, a, m)
                   for a, b in (("MoCo", "+ MC"), ("+ MC", "+ CC"), ("+ CC", "+ m"),
                                ("+ m", "+ A+"), ("+ A+", "+ kNN"), ("MoCo", "+ kNN"))
                   for m in ("seg_miou", "linear_acc")],
        # segment retrieval (A.7) and where the CAMs point (Fig. 6) beside the transfer
        "metrics": ["knn_acc", "linear_acc", "seg_miou", "segret_miou", "pointing_game"]},
    # 3. Tables 1-3: object- vs scene-centric, uniform vs long-tailed pretraining data
    "data_bias": {
        "doc": "object- vs scene-centric and uniform vs long-tailed pretraining (MoCo-v2)",
        "arms": [Arm("scene, uniform", {"method": "moco_v2",
                                        "dataset": "fashion_scenes_uniform"}),
                 Arm("object, uniform", {"method": "moco_v2",
                                         "dataset": "fashion_objects_uniform"}),
                 Arm("scene, long-tailed", {"method": "moco_v2", "dataset": "fashion_scenes_lt"}),
                 Arm("object, long-tailed", {"method": "moco_v2",
                                             "dataset": "fashion_objects_lt"})],
        "claims": [Claim(f"scene-centric on par or better than object-centric ({m})",
                         "scene, uniform", "object, uniform", m, kind="not_worse")
                   for m in ("seg_miou", "linear_acc")] + [
                   Claim(f"long-tailed on par with uniform, scenes ({m})", "scene, long-tailed",
                         "scene, uniform", m, kind="not_worse")
                   for m in ("seg_miou", "linear_acc")] + [
                   Claim(f"long-tailed on par with uniform, objects ({m})",
                         "object, long-tailed", "object, uniform", m, kind="not_worse")
                   for m in ("seg_miou", "linear_acc")],
        "metrics": ["knn_acc", "linear_acc", "seg_miou"]},
    # 4. Fig. 3: transfer against the maximum IoU of the two views
    "iou": {
        "doc": '"Revisiting..." Fig. 3: transfer with the views\' IoU capped (MoCo-v2)',
        "arms": [Arm("IoU any", {"method": "moco_v2"}),
                 Arm("IoU <= 0.5", {"method": "moco_v2", "max_iou": 0.5}),
                 Arm("IoU <= 0.3", {"method": "moco_v2", "max_iou": 0.3}),
                 Arm("IoU <= 0.1", {"method": "moco_v2", "max_iou": 0.1})],
        "claims": [Claim(f"transfer stable at {arm} ({m})", arm, "IoU any", m, kind="not_worse")
                   for arm in ("IoU <= 0.5", "IoU <= 0.3", "IoU <= 0.1")
                   for m in ("seg_miou", "linear_acc")],
        "metrics": ["knn_acc", "linear_acc", "seg_miou"]},
    # DenseCL (Wang et al. 2021) against its global-only baseline: dense transfer is its claim
    "densecl": {
        "doc": "DenseCL against MoCo-v2 (its global branch alone) at equal settings",
        "arms": [Arm("MoCo-v2", {"method": "moco_v2"}), Arm("DenseCL", {"method": "densecl"})],
        "claims": [Claim("DenseCL > MoCo-v2 (segmentation)", "DenseCL", "MoCo-v2", "seg_miou"),
                   Claim("DenseCL on par with MoCo-v2 (linear)", "DenseCL", "MoCo-v2",
                         "linear_acc", kind="not_worse")],
        "metrics": ["knn_acc", "linear_acc", "seg_miou"]},
}


def define_scene_flags(flag_values=None):
    """The flags of the scene-centric comparison recipes (``recipes/scenes_*.py``).

    >>> from absl import flags
    >>> from keras_contrastive.seeded_comparison import define_scene_flags, scene_base_config
    >>> values = flags.FlagValues()
    >>> define_scene_flags(values)
    >>> values(["recipe", "--epochs=2"])  # doctest: +ELLIPSIS
    [...]
    >>> config = scene_base_config(values)
    >>> config.dataset, config.backbone, config.width, config.epochs, config.train_subset
    ('fashion_scenes', 'resnet18', 8, 2, 10000)
    >>> values(["recipe", "--backbone=small_cnn", "--width=4"])  # doctest: +ELLIPSIS
    [...]
    >>> scene_base_config(values).backbone, scene_base_config(values).width
    ('small_cnn', 4)
    """
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    if "seeds" in flag_values:  # a notebook may re-run the cell
        return
    fv = {"flag_values": flag_values}
    flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds: each trains every arm once", **fv)
    flags.DEFINE_list("arms", [], "run only these arms (default: all)", **fv)
    flags.DEFINE_integer("epochs", 5, "pretraining epochs of every arm", **fv)
    flags.DEFINE_integer("batch_size", 256, "global batch", **fv)
    flags.DEFINE_enum("backbone", "resnet18", ["resnet18", "resnet50", "small_cnn"],
                      "every arm's backbone (small_cnn: quick runs)", **fv)
    flags.DEFINE_integer("width", 8, "ResNet width (small_cnn: its first block's channels)",
                         **fv)
    flags.DEFINE_integer("train_subset", 10_000, "pretrain on the first N scenes (of 20,000)",
                         **fv)
    flags.DEFINE_integer("eval_train", 2000, "labelled training scenes for kNN / linear", **fv)
    flags.DEFINE_integer("eval_test", 1000, "test scenes for every protocol", **fv)
    flags.DEFINE_integer("segmentation_train", 1000, "training scenes of the segmentation head",
                         **fv)
    flags.DEFINE_integer("segmentation_epochs", 20, "epochs of the segmentation head", **fv)
    flags.DEFINE_string("records", None, "JSON lines of every (arm, seed): resumed if present",
                        **fv)
    flags.DEFINE_string("out", None, "write the tables (markdown) here", **fv)
    flags.DEFINE_bool("report_only", False, "print the tables of --records without training",
                      **fv)


def scene_base_config(flag_values):
    """The base configuration every arm of a scene comparison changes (see ``define_scene_flags``).

    The quality protocol (``PRESETS["quality"]``: ResNet-18 with a CIFAR
    stem, SGD, MoCo-v2 heads, queue of 16 batches, key momentum 0.99) on
    ``fashion_scenes`` at width 8 (``--backbone`` and ``--width`` change it).
    """
    from keras_contrastive.pretraining import PRESETS

    return PRESETS["quality"].replace(
        dataset="fashion_scenes", epochs=flag_values.epochs, batch_size=flag_values.batch_size,
        backbone=flag_values.backbone, width=flag_values.width, train_subset=flag_values.train_subset,
        eval_train_subset=flag_values.eval_train, eval_test_subset=flag_values.eval_test)


def run_experiment(name, flag_values, log=print):
    """Runs ``EXPERIMENTS[name]`` with the scene flags; prints and writes its two tables.

    Returns the records.
    """
    experiment = EXPERIMENTS[name]
    arms = experiment["arms"]
    if flag_values.arms:
        unknown = sorted(set(flag_values.arms) - {arm.name for arm in arms})
        if unknown:
            raise ValueError(f"--arms: unknown {unknown}; this experiment's arms are "
                             f"{[arm.name for arm in arms]}.")
        arms = [arm for arm in arms if arm.name in flag_values.arms]
    try:
        seeds = [int(seed) for seed in flag_values.seeds]
    except ValueError:
        raise ValueError(f"--seeds takes integers, got {flag_values.seeds}.") from None
    evaluator = scene_evaluator(flag_values.eval_train, flag_values.eval_test,
                                flag_values.segmentation_train, flag_values.segmentation_epochs,
                                random_crop="random_crop_acc" in experiment["metrics"],
                                pointing_game="pointing_game" in experiment["metrics"],
                                segment_retrieval="segret_miou" in experiment["metrics"])
    if flag_values.report_only:
        if not read_records(flag_values.records):
            raise ValueError(f"--report_only: no records in {flag_values.records!r}.")
        names = {arm.name for arm in arms}
        records = [r for r in read_records(flag_values.records)
                   if r["arm"] in names and r["seed"] in seeds]
    else:
        records = run_arms(scene_base_config(flag_values), arms, seeds, evaluator,
                           flag_values.records, log=log)
    done = sorted({(r["arm"], r["seed"]) for r in records}, key=str)
    tables = (f"## {experiment['doc']}\n\n{len(done)} runs: "
              + ", ".join(f"{arm} seed {seed}" for arm, seed in done) + "\n\n"
              f"{format_summary(summarise(records, experiment['metrics']), experiment['metrics'])}"
              f"\n\n{format_verdicts(records, experiment['claims'])}\n")
    log("\n" + tables)
    if flag_values.out:
        with open(flag_values.out, "w") as file:
            file.write(tables)
    return records


def run_recipe(name, argv=None):
    """A ``recipes/scenes_<name>.py`` script: the scene flags, ``run_experiment(name)``; a bad
    flag or records of other settings exit with code 2 and the reason, before any training."""
    import sys

    from keras_contrastive import recipes

    define_scene_flags()

    def main(argv):
        del argv
        from absl import flags

        try:
            run_experiment(name, flags.FLAGS)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0

    return recipes.run_script(main, f"scenes_{name}", argv)
