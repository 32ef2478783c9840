"""The documentation: the API reference covers every public name, the docstring examples
run (doctest), the guides' code runs as written, and the README links the site.

The Sphinx build itself runs in CI as ``make docs`` (warnings as errors), followed by
docs/check_api.py, which checks the built reference holds every public name."""

import doctest
import importlib
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import gen_api  # noqa: E402


def _modules_with_examples():
    names = []
    for path in sorted((ROOT / "funtorch").rglob("*.py")):
        if ">>> " in path.read_text():
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            names.append(".".join(parts))
    return names


EXAMPLES = _modules_with_examples()


def test_there_are_docstring_examples():
    assert len(EXAMPLES) >= 5, EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.attempted > 0, f"{name} has '>>> ' but no doctest ran"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


@pytest.mark.parametrize("page", sorted(gen_api.PAGES))
def test_reference_pages_name_every_public_name(page):
    """Each page as gen_api writes it has one entry per public name of its modules."""
    current, entries = None, set()
    for line in gen_api.render(page).splitlines():
        if m := re.match(r"\.\. module:: (\S+)", line):
            current = m.group(1)
        elif m := re.match(r"\.\. (?:autofunction|autoclass|autoexception):: (\S+)", line):
            entries.add(m.group(1))
        elif m := re.match(r"\.\. py:data:: (\S+)", line):
            entries.add(f"{current}.{m.group(1)}")
    modules = gen_api.PAGES[page][1]
    expected = {f"{mod}.{n}" for mod in modules
                for n in gen_api.public_names(gen_api.MODULES[mod])}
    assert expected, page
    assert expected <= entries, f"missing from api/{page}.rst: {sorted(expected - entries)}"


def test_every_page_module_is_checked():
    """The pages document exactly the modules check_api.py checks."""
    on_pages = [mod for _, modules in gen_api.PAGES.values() for mod in modules]
    assert sorted(on_pages) == sorted(gen_api.MODULES)


def test_every_module_of_the_issue_is_documented():
    """ft.__all__, nn, F, optim, data, random and tree: every public name is in
    the reference's list, and the list has no name twice."""
    names = gen_api.documented_names()
    assert len(names) == len(set(names))
    import funtorch as ft
    assert {f"funtorch.{n}" for n in ft.__all__} <= set(names)
    for mod in ("nn", "nn.functional", "optim", "data", "random", "tree"):
        module = importlib.import_module(f"funtorch.{mod}")
        assert {f"funtorch.{mod}.{n}" for n in module.__all__} <= set(names), mod


GUIDES = sorted((DOCS / "guides").glob("*.md"))


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.stem)
def test_guide_code_runs(guide):
    """A guide's ```python blocks run in order in one namespace (```text blocks are
    illustrations and are not run)."""
    blocks = _python_blocks(guide)
    if guide.stem in ("pytorch_users", "jax_users", "compiler"):
        assert blocks, f"{guide.name} has no python examples"
    namespace = {"__name__": f"guide_{guide.stem}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{guide.name}[block {i}]", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{guide.name}, python block {i} failed: {e!r}\n{block}") from e


def test_toctree_and_readme_link_the_guides():
    index = (DOCS / "index.rst").read_text()
    for guide in ("guides/pytorch_users", "guides/jax_users", "guides/compiler"):
        assert guide in index
    for doc in re.findall(r"^   ([\w/]+)$", index, re.M):
        if doc.startswith("api/"):      # written by gen_api.py (make docs), not checked in
            assert doc.removeprefix("api/") in gen_api.PAGES, doc
            continue
        assert any((DOCS / f"{doc}{ext}").exists() for ext in (".md", ".rst")), doc
    # the notes toctree globs docs/*.md, so a note added there is part of the site
    assert ":glob:" in index and "\n   *\n" in index
    readme = (ROOT / "README.md").read_text()
    assert "make docs" in readme and "docs/guides/pytorch_users.md" in readme
