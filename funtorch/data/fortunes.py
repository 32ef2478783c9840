"""The fortune-cookie corpora: Debian's ``fortunes`` files, or the sample bundled here.

A category is one file of records separated by lines holding only ``%`` (the format of BSD
``fortune(6)``). The full corpus is Debian's ``fortunes`` package (40 categories under
``/usr/share/games/fortunes``; ``make data`` installs it); the package bundles the three
categories of ``fortunes-min`` (``fortunes``, ``literature``, ``riddles``; BSD licence, see
``fortunes_sample/COPYRIGHT``) so the examples run anywhere.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from typing import NamedTuple

import numpy as np

__all__ = ["Corpus", "fortunes", "DEBIAN_FORTUNES"]

DEBIAN_FORTUNES = "/usr/share/games/fortunes"
_SAMPLE = "fortunes_sample"
_OVERSTRIKE = re.compile("[^\x08\n]\x08")  # "_\bX": underline by backspacing (teletypes)


class Corpus(NamedTuple):
    """Records with their category: ``texts[i]`` is in ``categories[labels[i]]``."""

    texts: list
    labels: np.ndarray  # int64, one per text
    categories: tuple
    source: str  # where the records came from (the examples print it)


def fortunes(root=None, categories=None):
    """The fortune records as a :class:`Corpus`, in file order, categories sorted by name.

    Looks in ``root`` (or ``root/fortunes``) when given, else in ``$FUNTORCH_DATA/fortunes``
    and Debian's ``/usr/share/games/fortunes``; where none holds category files it falls
    back to the bundled ``fortunes-min`` sample and ``source`` says so. ``categories`` picks
    files by name (a name or a list); ``None`` takes every category found. Backspace
    overstriking is removed and each record is stripped of surrounding blank lines.
    """
    if isinstance(categories, str):
        categories = [categories]
    if categories is not None:
        categories = list(categories)
        if not categories:
            raise ValueError("fortunes: categories is empty; pass None for all categories")
        bad = [c for c in categories if not isinstance(c, str)]
        if bad:
            raise TypeError(f"fortunes: categories must be names (str), got {bad!r}")
    searched = _search_dirs(root)
    for directory in searched:
        files = _category_files(directory)
        if files:
            source = f"fortunes corpus in {directory}"
            break
    else:
        directory = os.fspath(importlib.resources.files(__package__).joinpath(_SAMPLE))
        files = _category_files(directory)
        source = (f"bundled fortunes-min sample ({', '.join(sorted(files))}), because no "
                  f"fortunes corpus was found in {', '.join(searched)}; install Debian's "
                  f"'fortunes' package (make data) or set $FUNTORCH_DATA for the full corpus")
    names = sorted(files) if categories is None else categories
    unknown = [c for c in names if c not in files]
    if unknown:
        raise ValueError(
            f"fortunes: unknown categories {unknown} in {source}; available: "
            f"{', '.join(sorted(files))}"
        )
    texts, labels = [], []
    for label, name in enumerate(names):
        records = _read_records(files[name])
        texts += records
        labels += [label] * len(records)
    if not texts:
        raise ValueError(f"fortunes: no records in categories {names} ({source}); the files "
                         f"are empty or hold only '%' separators")
    return Corpus(texts, np.asarray(labels, np.int64), tuple(names), source)


def _search_dirs(root):
    if root is not None:
        root = os.fspath(root)
        return [root, os.path.join(root, "fortunes")]
    dirs = []
    env = os.environ.get("FUNTORCH_DATA")
    if env:
        dirs.append(os.path.join(env, "fortunes"))
    dirs.append(DEBIAN_FORTUNES)
    return dirs


def _category_files(directory):
    """``{name: path}`` of the category files: plain names, not ``.dat`` indexes or ``.u8``."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    paths = {n: os.path.join(directory, n) for n in names
             if "." not in n and n not in ("COPYRIGHT", "README")}
    return {n: p for n, p in paths.items() if os.path.isfile(p)}


def _read_records(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n")
    while "\x08" in text:  # "__\b\bUN" takes two rounds; a backspace at a line start goes
        text, n = _OVERSTRIKE.subn("", text)
        if not n:
            text = text.replace("\x08", "")
    records = re.split(r"^%[ \t]*$", text, flags=re.MULTILINE)
    return [r.strip("\n").rstrip() for r in records if r.strip()]
