"""Every example in the package's docstrings runs: ``>>>`` examples print what
they say (doctest) and fenced ```python blocks execute without error."""
import doctest
import importlib
import inspect
import pkgutil
import re

import pytest

import keras_contrastive

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(keras_contrastive.__path__, "keras_contrastive.")
    if not info.name.endswith("__main__")
)
_FENCED = re.compile(r"```python\n(.*?)```", re.S)


def _own_docstrings(module):
    """(qualified name, docstring) of the module and the classes/functions it defines."""
    yield module.__name__, module.__doc__ or ""
    for name, obj in vars(module).items():
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == module.__name__:
            yield f"{module.__name__}.{name}", obj.__doc__ or ""
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member):
                        yield f"{module.__name__}.{name}.{attr}", member.__doc__ or ""


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={}):  # examples import what they use
        if test.examples:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"

    for where, doc in _own_docstrings(module):
        for block in _FENCED.findall(inspect.cleandoc(doc)):
            try:
                exec(compile(block, f"<example in {where}>", "exec"), {})
            except Exception as error:  # noqa: BLE001 - report which example broke
                raise AssertionError(f"the example in {where} fails: {error!r}") from error


# containers only ever returned by a documented function, whose example shows them
_RETURNED_ONLY = {"ImageDirectoryScan", "PretrainResult"}


@pytest.mark.parametrize("package", ["data", "views", "losses", "backbones", "heads", "layers",
                                     "state", "models", "evaluation", "callbacks", "export",
                                     "optimizers", "pretraining", "recipes", "embed"])
def test_every_public_class_has_an_example(package):
    module = importlib.import_module(f"keras_contrastive.{package}")
    names = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    missing = [name for name in names
               if inspect.isclass(getattr(module, name)) and name not in _RETURNED_ONLY
               and getattr(module, name).__module__.startswith("keras_contrastive")
               and not re.search(r">>>|```python", getattr(module, name).__doc__ or "")]
    assert not missing, f"public classes without an example: {missing}"


# public modules whose top-level functions are API (packages list theirs in __all__)
_FUNCTION_MODULES = ["distribute", "export", "pretraining", "recipes", "state", "optimizers",
                     "callbacks", "heads", "layers", "views.pretext", "embed", "embedding_plots"]


@pytest.mark.parametrize("module_name", [
    *("keras_contrastive." + name for name in _FUNCTION_MODULES),
    *("keras_contrastive." + name for name in ["data", "views", "losses", "backbones",
                                               "evaluation", "models"])])
def test_every_public_function_has_an_example(module_name):
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        functions = {name: getattr(module, name) for name in module.__all__}
    else:
        functions = {name: obj for name, obj in vars(module).items()
                     if not name.startswith("_") and getattr(obj, "__module__", "") == module_name}
    missing = [name for name, obj in functions.items() if inspect.isfunction(obj)
               and not re.search(r">>>|```python", obj.__doc__ or "")]
    assert not missing, f"public functions without an example: {missing}"
