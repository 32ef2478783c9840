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


def top_level_sections():
    """The top-level names, grouped by the module that defines them."""
    grouped = {g: [] for g in GROUPS}
    rest = []
    for name in public_names(ft):
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
    return sections


MODULES = {"funtorch": ft, "funtorch.nn": nn, "funtorch.nn.init": init,
           "funtorch.nn.functional": F, "funtorch.optim": optim,
           "funtorch.optim.schedules": schedules, "funtorch.data": ft.data,
           "funtorch.random": ft.random, "funtorch.tree": ft.tree}

# page -> (introduction, the modules it documents: the first is the page's title)
PAGES = {
    "funtorch": ("The top-level namespace (``import funtorch as ft``): arrays, numpy-named "
                 "ops, transformations.", ["funtorch"]),
    "nn": ("Stateless layers with PyTorch's names, layouts and defaults; losses; "
           "initialisers.", ["funtorch.nn", "funtorch.nn.init"]),
    "functional": ("PyTorch's ``torch.nn.functional`` as pure functions.",
                   ["funtorch.nn.functional"]),
    "optim": ("Optimizers as optax-style ``init``/``update`` pairs with ``torch.optim``'s "
              "numerics, and learning-rate schedules.",
              ["funtorch.optim", "funtorch.optim.schedules"]),
    "data": ("Datasets and batching.", ["funtorch.data"]),
    "random": ("Explicit-key random numbers (JAX's threefry).", ["funtorch.random"]),
    "tree": ("Pytrees: nested containers of arrays.", ["funtorch.tree"]),
}


def render(name):
    """The reST of one page: each module's names under its ``.. module::``."""
    intro, modules = PAGES[name]
    first, *more = modules
    if first == "funtorch":
        sections = top_level_sections()
    else:
        sections = [(None, section(first, public_names(MODULES[first]), MODULES[first]))]
    for mod in more:
        sections.append((mod, f".. module:: {mod}\n\n"
                         + section(mod, public_names(MODULES[mod]), MODULES[mod])))
    return page(first, f".. module:: {first}\n\n{intro}", sections)


def documented_names():
    """Every fully qualified public name the reference must cover."""
    return [f"{mod}.{name}" for mod, module in MODULES.items()
            for name in public_names(module)]


def main():
    (HERE / "api").mkdir(exist_ok=True)
    for name in PAGES:
        (HERE / "api" / f"{name}.rst").write_text(render(name))


if __name__ == "__main__":
    main()
