"""After ``sphinx -b html``: every public name of the documented modules is an object in
the built reference (its objects.inv), so a name autodoc skipped or failed on fails
``make docs``. Usage: python docs/check_api.py docs/_build/html"""

from __future__ import annotations

import pathlib
import sys

from sphinx.util.inventory import InventoryFile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_api import documented_names  # noqa: E402


def main(build_dir):
    path = pathlib.Path(build_dir) / "objects.inv"
    with open(path, "rb") as f:
        inventory = InventoryFile.load(f, "", lambda base, uri: uri)
    found = set()
    for kind, objects in getattr(inventory, "data", inventory).items():
        if kind.startswith("py:"):
            found.update(objects)
    missing = [name for name in documented_names() if name not in found]
    if missing:
        sys.exit(f"docs/check_api.py: {len(missing)} public names are not in the built API "
                 f"reference: {', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}"
                 " (run python docs/gen_api.py, and check autodoc can import them)")
    print(f"docs/check_api.py: all {len(documented_names())} public names are documented")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else HERE / "_build" / "html")
