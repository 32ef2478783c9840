"""Byte- and character-level tokenizers: text <-> int32 ids, saved and loaded as JSON.

Both have special tokens (by default ``<pad> <unk> <bos> <eos>``) with their own ids.
:class:`ByteTokenizer` encodes UTF-8 bytes as ids 0-255 (specials follow), so any text
encodes. :class:`CharTokenizer` has one id per character of the text it was fitted on
(specials first, so ``<pad>`` is 0); a character outside its vocabulary is an error unless
``errors="replace"`` maps it to ``<unk>``. :class:`BPETokenizer` learns byte-level subwords
with Hugging Face's ``tokenizers`` library, an optional extra (``pip install
'funtorch[text]'``).
"""

from __future__ import annotations

import collections
import json
import os

import numpy as np

__all__ = ["ByteTokenizer", "CharTokenizer", "BPETokenizer", "load_tokenizer", "SPECIALS"]

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")


class _Tokenizer:
    """Shared parts: the special tokens, ids <-> strings, JSON."""

    kind = None

    def __init__(self, tokens, specials):
        specials = tuple(specials)
        if len(set(specials)) != len(specials):
            raise ValueError(f"{type(self).__name__}: duplicate special tokens {specials}")
        self.specials = specials
        self._itos = list(tokens)
        self._stoi = {t: i for i, t in enumerate(self._itos)}

    @property
    def vocab_size(self):
        return len(self._itos)

    def __len__(self):
        return len(self._itos)

    def token_id(self, token):
        """The id of a special token (``"<pad>"``) or vocabulary entry."""
        try:
            return self._stoi[token]
        except KeyError:
            raise KeyError(f"{type(self).__name__}: {token!r} is not in the vocabulary "
                           f"(specials: {', '.join(self.specials) or 'none'})") from None

    pad_id = property(lambda self: self.token_id("<pad>"))
    unk_id = property(lambda self: self.token_id("<unk>"))
    bos_id = property(lambda self: self.token_id("<bos>"))
    eos_id = property(lambda self: self.token_id("<eos>"))

    def _wrap(self, ids, bos, eos):
        head = [self.bos_id] if bos else []
        tail = [self.eos_id] if eos else []
        return np.asarray(head + ids + tail, np.int32)

    def _ids(self, ids):
        ids = np.asarray(ids)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise TypeError(f"{type(self).__name__}.decode: expected a 1-D sequence of int "
                            f"ids, got shape {ids.shape} dtype {ids.dtype}")
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if bad.size:
            raise ValueError(f"{type(self).__name__}.decode: ids {sorted(set(bad.tolist()))[:5]} "
                             f"are outside the vocabulary [0, {self.vocab_size})")
        return ids.tolist()

    def to_json(self):
        return json.dumps(self._config(), ensure_ascii=False)

    def save(self, path):
        """Write the tokenizer as JSON; :func:`load_tokenizer` reads it back."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self.to_json())

    def __eq__(self, other):
        return type(self) is type(other) and self._config() == other._config()

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, specials={self.specials})"


class ByteTokenizer(_Tokenizer):
    """UTF-8 bytes as ids 0-255, then the special tokens (256, 257, ...)."""

    kind = "byte"

    def __init__(self, specials=SPECIALS):
        super().__init__([bytes([b]) for b in range(256)] + list(specials), specials)

    def encode(self, text, bos=False, eos=False):
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer.encode: expected str, got {type(text).__name__}")
        return self._wrap(list(text.encode("utf-8")), bos, eos)

    def decode(self, ids, skip_specials=True):
        """Bytes back to text; specials are dropped (or written out), bad UTF-8 is replaced."""
        out, run = [], bytearray()
        for i in self._ids(ids):
            if i < 256:
                run.append(i)
                continue
            out.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
            if not skip_specials:
                out.append(self._itos[i])
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)

    def _config(self):
        return {"type": self.kind, "specials": list(self.specials)}


class CharTokenizer(_Tokenizer):
    """One id per character: the specials first, then ``chars`` in the given order."""

    kind = "char"

    def __init__(self, chars, specials=SPECIALS):
        chars = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer: chars must be single characters")
        clash = sorted(set(chars) & set(specials))
        if clash or len(set(chars)) != len(chars):
            raise ValueError(f"CharTokenizer: repeated or special-token characters {clash}")
        super().__init__(list(specials) + chars, specials)
        self.chars = tuple(chars)

    @classmethod
    def fit(cls, texts, specials=SPECIALS, min_count=1):
        """The characters of ``texts`` (a str or an iterable of str), most frequent first
        (ties by code point); characters seen fewer than ``min_count`` times are left out."""
        if isinstance(texts, str):
            texts = [texts]
        counts = collections.Counter()
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"CharTokenizer.fit: expected str texts, got {type(t).__name__}")
            counts.update(t)
        if not counts:
            raise ValueError("CharTokenizer.fit: the corpus is empty (no characters to fit)")
        chars = sorted((c for c, n in counts.items() if n >= min_count),
                       key=lambda c: (-counts[c], c))
        return cls(chars, specials)

    def encode(self, text, bos=False, eos=False, errors="strict"):
        """``text`` as an int32 array. ``errors="strict"`` raises ``ValueError`` for a
        character outside the vocabulary; ``"replace"`` maps it to ``<unk>``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected str, got {type(text).__name__}")
        if errors not in ("strict", "replace"):
            raise ValueError(f"CharTokenizer.encode: errors must be 'strict' or 'replace', "
                             f"got {errors!r}")
        stoi, ids, missing = self._stoi, [], {}
        unk = self.unk_id if errors == "replace" else None
        for pos, c in enumerate(text):
            i = stoi.get(c)
            if i is None:
                missing.setdefault(c, pos)
                i = unk
            ids.append(i)
        if missing and errors == "strict":
            shown = ", ".join(f"{c!r} (U+{ord(c):04X}) at {p}" for c, p in
                              list(missing.items())[:8])
            fix = ("pass errors='replace' to map them to '<unk>'" if "<unk>" in self._stoi
                   else "fit the tokenizer on text that has them")
            raise ValueError(f"CharTokenizer.encode: {len(missing)} character(s) not in the "
                             f"vocabulary of {len(self.chars)}: {shown}; {fix}")
        return self._wrap(ids, bos, eos)

    def decode(self, ids, skip_specials=True):
        n = len(self.specials)
        return "".join(self._itos[i] for i in self._ids(ids) if i >= n or not skip_specials)

    def _config(self):
        return {"type": self.kind, "specials": list(self.specials), "chars": list(self.chars)}


def _hf_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("BPETokenizer needs the 'tokenizers' package: pip install "
                          "'funtorch[text]' (or pip install tokenizers)") from None
    return tokenizers


class BPETokenizer:
    """Byte-level BPE subwords (GPT-2 style), trained and run by the ``tokenizers`` library.

    ``BPETokenizer.fit(texts, vocab_size)`` learns merges from ``texts``; ``encode`` and
    ``decode`` map text to int32 ids and back (any text encodes: the base alphabet is the
    256 bytes); ``save`` writes the library's JSON, which :func:`load_tokenizer` reads.
    """

    kind = "bpe"

    def __init__(self, hf_tokenizer):
        self._tok = hf_tokenizer
        self.specials = tuple(t for t in SPECIALS if hf_tokenizer.token_to_id(t) is not None)

    @classmethod
    def fit(cls, texts, vocab_size=1000, specials=SPECIALS):
        hf = _hf_tokenizers()
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not any(texts):
            raise ValueError("BPETokenizer.fit: the corpus is empty (no text to learn from)")
        tok = hf.Tokenizer(hf.models.BPE())
        tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = hf.decoders.ByteLevel()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=list(specials), show_progress=False,
            initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer)
        return cls(tok)

    @property
    def vocab_size(self):
        return self._tok.get_vocab_size()

    def __len__(self):
        return self.vocab_size

    def token_id(self, token):
        i = self._tok.token_to_id(token)
        if i is None:
            raise KeyError(f"BPETokenizer: {token!r} is not in the vocabulary")
        return i

    pad_id = property(lambda self: self.token_id("<pad>"))
    unk_id = property(lambda self: self.token_id("<unk>"))
    bos_id = property(lambda self: self.token_id("<bos>"))
    eos_id = property(lambda self: self.token_id("<eos>"))

    def encode(self, text, bos=False, eos=False):
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: expected str, got {type(text).__name__}")
        ids = self._tok.encode(text, add_special_tokens=False).ids
        return np.asarray(([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else []),
                          np.int32)

    def decode(self, ids, skip_specials=True):
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"BPETokenizer.decode: ids {bad[:5]} are outside the vocabulary "
                             f"[0, {self.vocab_size})")
        return self._tok.decode(ids, skip_special_tokens=skip_specials)

    def to_json(self):
        return self._tok.to_str()

    def save(self, path):
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self.to_json())

    def __repr__(self):
        return f"BPETokenizer(vocab_size={self.vocab_size}, specials={self.specials})"


def load_tokenizer(path):
    """Read a tokenizer written by ``save`` (the JSON says which kind)."""
    with open(os.fspath(path), encoding="utf-8") as f:
        try:
            config = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"load_tokenizer: {path} is not tokenizer JSON ({e})") from None
    kind = config.get("type") if isinstance(config, dict) else None
    if isinstance(config, dict) and isinstance(config.get("model"), dict) and \
            config["model"].get("type") == "BPE":  # the tokenizers library's own JSON
        with open(os.fspath(path), encoding="utf-8") as f:
            return BPETokenizer(_hf_tokenizers().Tokenizer.from_str(f.read()))
    if kind == "byte":
        return ByteTokenizer(config["specials"])
    if kind == "char":
        return CharTokenizer(config["chars"], config["specials"])
    raise ValueError(f"load_tokenizer: {path} has tokenizer type {kind!r}; expected 'byte', "
                     f"'char' or a BPE tokenizer's JSON")
