"""The survey chapter's case study: SimCLR on semantic masks of street scenes, Recall@N retrieval.

Bastanlar & Orhan (Section 4) learn representations of semantic segmentation
masks with SimCLR (ResNet-18, 512-d features and projection, masks at 64x80,
batch 85, AMSGrad; views: random resized crop + rotation <= 3 degrees, no
colour) and retrieve, for each query mask, the database mask of the same
place among 120 test pairs.  Cityscapes / Street View are not available
offline, so the masks come from ``data.street_mask_splits`` (procedural street
scenes; query and database differ in viewpoint, cars and people, vegetation
and boundary noise; 3,484 unpaired masks, 368 training pairs, 120 test pairs,
as in the chapter).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/semantic_mask_retrieval.py --preset quick --out case_study.md --plot sweep.png

Table 1 (training schemes, min crop ratio 0.6), each scored by Recall@1..5
of the network's output (the projection, cosine similarity):

* supervised only: SimCLR's loss on the 368 pairs (query and database of a
  place are the positives), from scratch;
* self-supervised only: SimCLR on the 3,484 unpaired masks;
* dense layers replaced and trained: the self-supervised encoder frozen, a
  new projection head trained on the pairs;
* all layers fine-tuned: the self-supervised network trained further on
  the pairs;
* and, as a floor, pixel agreement of the raw masks (no learning).

Table 2: the minimum crop ratio swept 0.9 ... 0.1 (self-supervised, then all
layers fine-tuned), with mean recall over N = 1..5, and a plot of it.

Presets: ``quick`` (32x40 masks, ResNet-18 width 8, 5 self-supervised and 20
pair epochs, crop ratios 0.9/0.7/0.6/0.5/0.3/0.1: 13.7 minutes end to end on 2
idle CPU cores; BENCHMARKS.md) and ``full`` (the chapter's 64x80 masks, ResNet-18 width 64 =
512-d features, 512-d projection, more epochs; a GPU run).  The chapter's
numbers: supervised 0.500 / self-supervised 0.567 / dense 0.542 / fine-tuned
0.633 Recall@1; mean recall peaks at crop ratio 0.6-0.7.
"""
import json

from absl import flags

from keras_contrastive import recipes

flags.DEFINE_enum("preset", "quick", ["quick", "full"], "quick: ~14 min on 2 idle CPU cores; full: "
                  "the chapter's sizes")
flags.DEFINE_string("ratios", None, "minimum crop ratios of the sweep, comma-separated (default: "
                    "the preset's; '' skips it)")
flags.DEFINE_integer("ssl_epochs", None, "self-supervised epochs (default: the preset's)")
flags.DEFINE_integer("pair_epochs", None, "epochs on the 368 pairs (default: the preset's)")
flags.DEFINE_integer("unpaired", 3484, "unpaired masks for self-supervised training")
flags.DEFINE_integer("train_pairs", 368, "labelled pairs for supervised training / fine-tuning")
flags.DEFINE_integer("test_pairs", 120, "test pairs")
flags.DEFINE_string("out", None, "write both tables (markdown) and JSON lines here")
flags.DEFINE_string("plot", None, "write the crop-ratio sweep's mean recall here (PNG)")
flags.DEFINE_integer("seed", 0, "global seed")
FLAGS = flags.FLAGS

PRESETS = {
    # size, ResNet-18 width, SSL epochs, epochs on the pairs, the sweep's ratios (0.6 is
    # Table 1's run, reused)
    # quick: 13.7 min end to end on 2 idle cores (BENCHMARKS.md)
    "quick": {"size": (32, 40), "width": 8, "ssl_epochs": 5, "pair_epochs": 20,
              "ratios": (0.9, 0.7, 0.6, 0.5, 0.3, 0.1)},
    "full": {"size": (64, 80), "width": 64, "ssl_epochs": 100, "pair_epochs": 100,
             "ratios": (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)},
}
TABLE1_RATIO = 0.6
BATCH, NS = 85, (1, 2, 3, 4, 5)


def run(preset, ratios, seed=0, log=print):
    """Both tables of the case study; returns ``{"table1": {...}, "table2": {...},
    "seconds": {...}}``.  Table 1 is logged as soon as it is done."""
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_contrastive import backbones, data, models
    from keras_contrastive.evaluation import recall_at_n
    from keras_contrastive.views import SemanticMaskViews

    settings = PRESETS[preset]
    size = settings["size"]
    classes = len(data.STREET_CLASSES)
    splits = data.street_mask_splits(size=size, seed=seed, unpaired=FLAGS.unpaired,
                                     train_pairs=FLAGS.train_pairs, test_pairs=FLAGS.test_pairs)
    unpaired = splits["unpaired"]
    pairs_q, pairs_d = splits["train_pairs"]
    test_q, test_d = splits["test_pairs"]
    ssl_epochs = FLAGS.ssl_epochs or settings["ssl_epochs"]
    pair_epochs = FLAGS.pair_epochs or settings["pair_epochs"]

    def augment(ratio, offset):
        return SemanticMaskViews(size, classes, min_crop_ratio=ratio, max_angle=3.0, flip=False,
                                 seed=seed + offset)

    def unpaired_views(ratio):
        first, second = augment(ratio, 1), augment(ratio, 2)
        ds = tf.data.Dataset.from_tensor_slices(unpaired[..., None])
        ds = ds.shuffle(len(unpaired), seed=seed).batch(BATCH, drop_remainder=True)
        return data.set_autotune(ds.map(lambda m: {"global": (first(m), second(m))}).prefetch(2))

    def pair_views(ratio):
        first, second = augment(ratio, 3), augment(ratio, 4)
        ds = tf.data.Dataset.from_tensor_slices((pairs_q[..., None], pairs_d[..., None]))
        ds = ds.shuffle(len(pairs_q), seed=seed).batch(BATCH, drop_remainder=True)
        return data.set_autotune(ds.map(lambda q, d: {"global": (first(q), second(d))}).prefetch(2))

    def new_model(encoder=None, compile=True):
        encoder = encoder or backbones.resnet18(size + (classes,), width=settings["width"],
                                                stem="cifar")
        dim = encoder.output_shape[-1]
        model = models.SimCLR(encoder, projection_dim=dim, hidden_dim=dim, temperature=0.1)
        if compile:
            model.compile(optimizer=keras.optimizers.Adam(1e-3, amsgrad=True))
        return model

    # Every fit with a trainable encoder reuses one model: its weights are loaded and its
    # optimizer reset before each run, so the train step is traced once, not once per fit
    # (tracing took about as long as 4 epochs on the pairs).
    model = new_model()

    def train(views, epochs, what, weights=None):
        """Trains ``model`` from ``weights`` (encoder's, projector's; default: a fresh
        init) with a fresh optimizer state; returns the weights it ends with."""
        if weights is None:
            fresh = new_model(compile=False)
            weights = fresh.encoder.get_weights(), fresh.projector.get_weights()
        model.encoder.set_weights(weights[0])
        model.projector.set_weights(weights[1])
        for variable in model.optimizer.variables:
            if variable.name != "learning_rate":  # the step count and AMSGrad's moments
                variable.assign(keras.ops.zeros_like(variable))
        fit(model, views, epochs, what)
        return model.encoder.get_weights(), model.projector.get_weights()

    def fit(network, views, epochs, what):
        log(f"  {what}: {epochs} epochs ({time.perf_counter() - start:.0f} s so far)")
        network.fit(views, epochs=epochs, verbose=0)

    def frozen_encoder_model(weights):
        encoder = keras.models.clone_model(model.encoder)
        encoder.set_weights(weights[0])
        encoder.trainable = False
        return new_model(encoder)  # a fresh projection head on the frozen encoder

    def recall(network):
        def embed(masks):
            x = tf.one_hot(masks, classes)
            return network.projector(network.encoder(x, training=False), training=False).numpy()
        return recall_at_n(embed(test_q), embed(test_d), np.arange(len(test_q)), ns=NS)

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    agreement = (test_q[:, None] == test_d[None]).mean(axis=(2, 3))
    ranks = (agreement > agreement.diagonal()[:, None]).sum(axis=1)
    table1 = {"pixel agreement (no learning)": {n: round(float(np.mean(ranks < n)), 4)
                                                for n in NS}}
    log(f"Table 1 (min crop ratio {TABLE1_RATIO})")
    train(pair_views(TABLE1_RATIO), pair_epochs, "supervised only")
    table1["only supervised training"] = recall(model)
    ssl = train(unpaired_views(TABLE1_RATIO), ssl_epochs, "self-supervised only")
    table1["only self-supervised training"] = recall(model)
    dense = frozen_encoder_model(ssl)
    fit(dense, pair_views(TABLE1_RATIO), pair_epochs, "dense layers replaced and trained")
    table1["dense layers were replaced and trained"] = recall(dense)
    train(pair_views(TABLE1_RATIO), pair_epochs, "all layers fine-tuned", weights=ssl)
    table1["all layers were fine-tuned"] = recall(model)
    seconds = {"table1": round(time.perf_counter() - start, 1)}
    log(tables_markdown({"table1": table1, "table2": {}}))

    # Table 2's row at Table 1's ratio is Table 1's last scheme (same data, seed, schedule)
    table2 = {ratio: table1["all layers were fine-tuned"] for ratio in ratios
              if ratio == TABLE1_RATIO}
    for ratio in ratios:
        if ratio in table2:
            continue
        log(f"Table 2: min crop ratio {ratio}")
        ssl = train(unpaired_views(ratio), ssl_epochs, "self-supervised")
        train(pair_views(ratio), pair_epochs, "all layers fine-tuned", weights=ssl)
        table2[ratio] = recall(model)
    seconds["total"] = round(time.perf_counter() - start, 1)
    log(f"done in {seconds['total']:.0f} s")
    return {"table1": table1, "table2": dict(sorted(table2.items(), reverse=True)),
            "seconds": seconds}


def tables_markdown(result):
    lines = ["| training scheme | " + " | ".join(f"R@{n}" for n in NS) + " |",
             "|---|" + "---|" * len(NS)]
    for name, recalls in result["table1"].items():
        lines.append(f"| {name} | " + " | ".join(f"{recalls[n]:.3f}" for n in NS) + " |")
    if result["table2"]:
        lines += ["", "| min crop ratio | " + " | ".join(f"R@{n}" for n in NS) + " | mean |",
                  "|---|" + "---|" * (len(NS) + 1)]
        for ratio, recalls in result["table2"].items():
            mean = sum(recalls[n] for n in NS) / len(NS)
            lines.append(f"| {ratio:.2f} | " + " | ".join(f"{recalls[n]:.3f}" for n in NS) +
                         f" | {mean:.3f} |")
    return "\n".join(lines)


def plot_sweep(table2, path):
    from keras_contrastive import plotting

    ratios = sorted(table2)
    means = [sum(table2[r][n] for n in NS) / len(NS) for r in ratios]
    fig, axes = plotting.figure(figsize=(4.5, 3))
    ax = axes[0, 0]
    ax.plot(ratios, means, marker="o")
    ax.set_xlabel("minimum crop ratio")
    ax.set_ylabel("mean Recall@1..5")
    ax.set_title("crop-ratio sweep (fine-tuned)")
    ax.grid(alpha=0.3)
    plotting.save(fig, path)


def main(argv):
    del argv
    ratios = (PRESETS[FLAGS.preset]["ratios"] if FLAGS.ratios is None
              else [float(r) for r in FLAGS.ratios.split(",") if r.strip()])
    if any(not 0.0 < r <= 1.0 for r in ratios):
        raise ValueError(f"--ratios must lie in (0, 1], got {FLAGS.ratios!r}.")
    result = run(FLAGS.preset, ratios, seed=FLAGS.seed)
    table = tables_markdown(result)
    print("\n" + table)
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            f.write(table + "\n\n" + json.dumps({"preset": FLAGS.preset, **{
                k: {str(name): v for name, v in rows.items()} for k, rows in result.items()}})
                    + "\n")
    if FLAGS.plot and result["table2"]:
        plot_sweep(result["table2"], FLAGS.plot)
        print(f"sweep plot written to {FLAGS.plot}")
    return 0


if __name__ == "__main__":
    recipes.run_script(main, "semantic_mask_retrieval")
