"""Write docs/api/*.rst: one autodoc entry for every public name of each documented module.

Run it after adding a public name (``python docs/gen_api.py``); tests/test_docs.py fails
while a public name is missing from the reference. Public names are a module's
``__all__``; top-level names are grouped by the module that defines them.
"""

from __future__ import annotations

import inspect
import pathlib
import sys
import types

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import funtorch as ft  # noqa: E402
import funtorch.nn as nn  # noqa: E402
import funtorch.nn.functional as F  # noqa: E402
import funtorch.nn.init as init  # noqa: E402
import funtorch.optim as optim  # noqa: E402
import funtorch.optim.schedules as schedules  # noqa: E402

# the pages: (file, title, [(section title or None, module, names)])
GROUPS = {  # top-level names by defining module prefix, in page order
    "Arrays and creation": ("funtorch.core", "funtorch.numpy.creation", "funtorch.numpy._core"),
    "Elementwise": ("funtorch.numpy.ufuncs",),
    "Reductions": ("funtorch.numpy.reductions",),
    "Shapes": ("funtorch.numpy.shape",),
    "Indexing": ("funtorch.numpy.indexing",),
    "Linear algebra": ("funtorch.numpy.linalg",),
    "Sorting": ("funtorch.numpy.sorting",),
    "Transformations": ("funtorch.transforms",),
    "Control flow": ("funtorch.lax",),
    "Saving, loading and devices": ("funtorch.io", "funtorch.devices"),
}


def public_names(module):
    """A module's public names: ``__all__``."""
    return list(module.__all__)


def _entry(module_name, name, obj):
    if isinstance(obj, type):
        if issubclass(obj, BaseException):
            return f".. autoexception:: {module_name}.{name}\n"
        return f".. autoclass:: {module_name}.{name}\n   :members:\n"
    if callable(obj) and not isinstance(obj, types.ModuleType):
        return f".. autofunction:: {module_name}.{name}\n"
    return None


def _data_entry(module_name, name, obj):
    what = (f"the dtype ``{name}``" if hasattr(obj, "itemsize") or name == "float0"
            else f"``{obj!r}``")
    return f".. py:data:: {name}\n\n   {what}\n"   # in the page's current module


def section(module_name, names, module):
    out = []
    for name in names:
        obj = getattr(module, name)
        entry = _entry(module_name, name, obj)
        out.append(entry if entry is not None else _data_entry(module_name, name, obj))
    return "\n".join(out)


def page(title, intro, sections):
    text = f"{title}\n{'=' * len(title)}\n\n{intro}\n\n"
    for sub, body in sections:
        if sub:
            text += f"{sub}\n{'-' * len(sub)}\n\n"
        text += body + "\n"
    return text


def top_level():
    names = public_names(ft)
    grouped = {g: [] for g in GROUPS}
    rest = []
    for name in names:
        obj = getattr(ft, name)
        mod = getattr(inspect.unwrap(obj), "__module__", "") if callable(obj) else ""
        for g, prefixes in GROUPS.items():
            if mod.startswith(prefixes):
                grouped[g].append(name)
                break
        else:
            rest.append(name)
    sections = [(g, section("funtorch", ns, ft)) for g, ns in grouped.items() if ns]
    sections.append(("Dtypes, constants and other names", section("funtorch", rest, ft)))
    return page("funtorch", ".. module:: funtorch\n\nThe top-level namespace "
                "(``import funtorch as ft``): arrays, numpy-named ops, transformations.",
                sections)


PAGES = {
    "funtorch": top_level,
    "nn": lambda: page("funtorch.nn", ".. module:: funtorch.nn\n\nStateless layers with "
                       "PyTorch's names, layouts and defaults; losses; initialisers.",
                       [(None, section("funtorch.nn", public_names(nn), nn)),
                        ("funtorch.nn.init", ".. module:: funtorch.nn.init\n\n"
                         + section("funtorch.nn.init", public_names(init), init))]),
    "functional": lambda: page("funtorch.nn.functional", ".. module:: funtorch.nn.functional"
                               "\n\nPyTorch's ``torch.nn.functional`` as pure functions.",
                               [(None, section("funtorch.nn.functional", public_names(F),
                                               F))]),
    "optim": lambda: page("funtorch.optim", ".. module:: funtorch.optim\n\nOptimizers as "
                          "optax-style ``init``/``update`` pairs with ``torch.optim``'s "
                          "numerics, and learning-rate schedules.",
                          [(None, section("funtorch.optim", public_names(optim), optim)),
                           ("funtorch.optim.schedules", ".. module:: funtorch.optim.schedules"
                            "\n\n" + section("funtorch.optim.schedules",
                                             public_names(schedules), schedules))]),
    "data": lambda: page("funtorch.data", ".. module:: funtorch.data\n\nDatasets and "
                         "batching.", [(None, section("funtorch.data",
                                                      public_names(ft.data), ft.data))]),
    "random": lambda: page("funtorch.random", ".. module:: funtorch.random\n\nExplicit-key "
                           "random numbers (JAX's threefry).",
                           [(None, section("funtorch.random", public_names(ft.random),
                                           ft.random))]),
    "tree": lambda: page("funtorch.tree", ".. module:: funtorch.tree\n\nPytrees: nested "
                         "containers of arrays.", [(None, section("funtorch.tree",
                                                                  public_names(ft.tree),
                                                                  ft.tree))]),
}


MODULES = {"funtorch": ft, "funtorch.nn": nn, "funtorch.nn.init": init,
           "funtorch.nn.functional": F, "funtorch.optim": optim,
           "funtorch.optim.schedules": schedules, "funtorch.data": ft.data,
           "funtorch.random": ft.random, "funtorch.tree": ft.tree}


def documented_names():
    """Every fully qualified public name the reference must cover."""
    return [f"{mod}.{name}" for mod, module in MODULES.items()
            for name in public_names(module)]


def main():
    (HERE / "api").mkdir(exist_ok=True)
    for name, make in PAGES.items():
        (HERE / "api" / f"{name}.rst").write_text(make())


if __name__ == "__main__":
    main()
