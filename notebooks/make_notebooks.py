"""Writes the notebooks (without outputs): ``notebooks/quickstart.ipynb`` from the
cells below and ``notebooks/<method>.ipynb`` for the headline recipes
(``HEADLINE``) from ``recipes/<method>.py``: ``python notebooks/make_notebooks.py``.
tests/test_notebook.py checks that the committed notebooks are what this script
writes, and runs them."""
import ast
import json
import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
HEADLINE = ("simclr", "moco_v2", "dino", "leoclr")

CELLS = [
    ("markdown", """# keras-contrastive: quick start

A newcomer's path in a few minutes on a CPU: Fashion-MNIST in, a SimCLR encoder
pretrained without labels, its kNN accuracy against the same network at random
init, a TF Serving export, a folder of your own images embedded through it, and a
map of the embeddings.

Install from a clone (`pip install -e ".[plots]"`, or `make install`) or from a
wheel (`python -m pip wheel --no-deps . -w dist && pip install dist/*.whl`).
Fashion-MNIST's files come with `make data` (or Keras' download on first use).

`KC_NOTEBOOK_SMOKE=1` (what the tests set) shrinks every step to seconds; without
it the run is the library's `demo` preset on 5,000 images (a few minutes)."""),
    ("code", """import os

SMOKE = os.environ.get("KC_NOTEBOOK_SMOKE") == "1"
WORK = os.path.abspath("quickstart_outputs")  # everything this notebook writes
os.makedirs(WORK, exist_ok=True)
print("smoke test" if SMOKE else "full run", "- outputs in", WORK)"""),
    ("markdown", """## 1. The data: Fashion-MNIST
70,000 grey 28x28 pictures of clothes in 10 classes. Pretraining ignores the labels;
only the evaluation reads them."""),
    ("code", """import matplotlib.pyplot as plt
from keras_contrastive.data import load_fashion_mnist_arrays

images, labels = load_fashion_mnist_arrays("test")
print(images.shape, images.dtype, "labels", sorted(set(labels.tolist())))
figure, axes = plt.subplots(1, 8, figsize=(8, 1.2))
for axis, image in zip(axes, images):
    axis.imshow(image[..., 0], cmap="gray")
    axis.axis("off")
plt.show()"""),
    ("markdown", """## 2. Pretrain SimCLR, and compare with random init
`pretrain` runs the library's protocol: training, then a kNN classifier and a linear
probe on the frozen features, of the trained network and of the same network at
random init. The same run from the shell: `keras-contrastive pretrain --preset demo`."""),
    ("code", """from keras_contrastive.pretraining import PRESETS, format_report, pretrain

config = PRESETS["demo"].replace(method="simclr", epochs=1 if SMOKE else 3,
                                 train_subset=128 if SMOKE else 5000,
                                 batch_size=64 if SMOKE else 256, width=2 if SMOKE else 8,
                                 eval_train_subset=200 if SMOKE else 5000,
                                 eval_test_subset=100 if SMOKE else 1000, knn_k=20)
result = pretrain(config, verbose=0 if SMOKE else 1)
print(format_report(config, result))
print(f"kNN accuracy: {result.metrics['knn_acc']:.3f} pretrained, "
      f"{result.metrics['random_knn_acc']:.3f} at random init")"""),
    ("markdown", """## 3. Export for serving
A TF Serving SavedModel (`serving_default` for float images in [0, 1],
`serve_uint8` and `serve_bytes` for pixels and files of any size) with
`metadata.json`; `keras-contrastive export run.keras --tflite encoder.tflite` writes a
TensorFlow Lite file too."""),
    ("code", """from keras_contrastive.export import read_metadata
from keras_contrastive.pretraining import export_pretrained

export_dir = os.path.join(WORK, "simclr_export")
version_dir = export_pretrained(config, result, export_dir, overwrite=True)
metadata = read_metadata(export_dir)
print(version_dir, "- embeddings of", metadata["embedding_dim"], "numbers per image")"""),
    ("markdown", """## 4. Embed a folder of images
Any folder of JPEG/PNG files (class sub-folders optional). Here: test images written
as PNG files, standing in for your photos. The shell's way:
`keras-contrastive embed EXPORT FOLDER --out embeddings.npz --neighbours 5 --map map.png`."""),
    ("code", """from PIL import Image

from keras_contrastive import embed

folder = os.path.join(WORK, "my_photos")
os.makedirs(folder, exist_ok=True)
count = 100 if SMOKE else 1000
for index in range(count):
    Image.fromarray(images[index, ..., 0]).save(os.path.join(folder, f"photo_{index:04d}.png"))
embedded = embed.embed(export_dir, folder)
embedded.add_neighbours(5)
embed.save_embeddings(embedded, os.path.join(WORK, "embeddings.npz"))
print(embedded.embeddings.shape, "- nearest neighbours of", embedded.names[0], ":",
      [embedded.names[i] for i in embedded.neighbours[0]])"""),
    ("markdown", """## 5. The map
A 2-D map of the embeddings (UMAP where umap-learn is installed, PCA otherwise);
an unlabelled folder is drawn in one colour."""),
    ("code", """from IPython.display import Image as Picture
from keras_contrastive import embedding_plots

map_path = os.path.join(WORK, "map.png")
method = embedding_plots.plot_map(embedded, map_path)
print("map drawn with", method)
Picture(filename=map_path)"""),
]


def _notebook(cells):
    cells = [nbformat.v4.new_markdown_cell(text) if kind == "markdown"
             else nbformat.v4.new_code_cell(text) for kind, text in cells]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"  # stable ids: the file is the same on every run
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})


def notebook():
    """The quick-start notebook, without outputs."""
    return _notebook(CELLS)


def _markdown_table(lines):
    """An RST simple table (``====`` rules) as a markdown table."""
    rule = lines[0]
    starts = [i for i, char in enumerate(rule) if char == "=" and (i == 0 or rule[i - 1] == " ")]
    bounds = list(zip(starts, starts[1:] + [None]))
    rows = [[line[a:b].strip() for a, b in bounds] for line in lines if not line.startswith("=")]
    out = ["| " + " | ".join(row) + " |" for row in rows]
    return out[:1] + ["|" + "---|" * len(starts)] + out[1:]


def _docstring_markdown(docstring):
    """A recipe's docstring as markdown: its first line the title, its table a table."""
    lines = docstring.replace("``", "`").splitlines()
    out = ["# " + lines[0]]
    table = []
    for line in lines[1:]:
        if line.startswith("=") or (table and line.strip()):
            table.append(line)
            continue
        if table:
            out += _markdown_table(table)
            table = []
        out.append(line)
    return "\n".join(out + (_markdown_table(table) if table else [])).strip()


# KC_NOTEBOOK_SMOKE=1: one step of 32 images at 16 px, 64 labelled images, no export
SMOKE_FLAGS = ["--epochs=1", "--train_subset=32", "--batch_size=32", "--eval_subset=64",
               "--image_size=16", "--export="]


def recipe_notebook(method):
    """The notebook of ``recipes/<method>.py``: its docstring, then its code run with
    flags twice in one kernel, then the accuracies; without outputs."""
    with open(os.path.join(HERE, os.pardir, "recipes", f"{method}.py")) as f:
        text = f.read()
    module = ast.parse(text)
    code = "\n\n".join(ast.get_source_segment(text, node) for node in module.body[1:]
                     if not isinstance(node, ast.If))  # the script's lines, not its __main__
    run = f'{code}\n\nresult = recipes.main("{method}", ARGV)'
    return _notebook([
        ("markdown", _docstring_markdown(ast.get_docstring(module))),
        ("code", f"""# Colab: install the library first (OWNER/REPO: keras-contrastive's GitHub home)
# !pip install "keras-contrastive[plots] @ git+https://github.com/OWNER/REPO.git"
import os

# KC_NOTEBOOK_SMOKE=1 (what the tests set): a few steps on a CPU instead of the preset's run
SMOKE = os.environ.get("KC_NOTEBOOK_SMOKE") == "1"
ARGV = ["{method}", "--preset", "cpu_small"]  # what `python recipes/{method}.py` takes
if SMOKE:
    ARGV += {json.dumps(SMOKE_FLAGS)}
print(" ".join(ARGV))"""),
        ("markdown", f"""## Run the recipe
The cell is `recipes/{method}.py` with its flags: the same code path as
`python recipes/{method}.py --preset cpu_small` (training, kNN and linear probe,
export to `saved_models/{method}/1/`)."""),
        ("code", run),
        ("markdown", """## Run it again
Re-running a recipe cell in one kernel works: the flags are defined once and parsed
afresh from `ARGV` on every run."""),
        ("code", run),
        ("markdown", "## Results\nkNN and linear-probe accuracy of the frozen encoder."),
        ("code", """for name in ("knn_acc", "linear_acc"):
    print(f"{name}: {result.metrics[name]:.4f}")"""),
    ])


def notebooks():
    """``{file name: notebook}`` for every notebook this script writes."""
    return {"quickstart.ipynb": notebook(),
            **{f"{method}.ipynb": recipe_notebook(method) for method in HEADLINE}}


if __name__ == "__main__":
    for name, written in notebooks().items():
        nbformat.write(written, os.path.join(HERE, name))
        print("wrote", os.path.join(HERE, name))
