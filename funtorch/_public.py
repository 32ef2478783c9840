"""``__all__`` for the packages that re-export: every public name they bind."""

import types


def public_names(namespace):
    """The names in ``namespace`` not starting with ``_`` that are not submodules, sorted,
    so a new export is public (and in the API reference) by itself."""
    return sorted(n for n, v in namespace.items()
                  if not n.startswith("_") and n != "annotations"
                  and not isinstance(v, types.ModuleType))
