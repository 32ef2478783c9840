"""Sphinx configuration: the API reference from the docstrings (autodoc + napoleon), the
guides in Markdown (MyST). ``make docs`` builds it with warnings as errors."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "funtorch"
author = "the funtorch developers"
copyright = "2026, the funtorch developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# the docstrings are prose with ``literal`` names; keep signatures as written
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
autodoc_class_signature = "separated"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = "funtorch"
