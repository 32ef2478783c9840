"""Text and time-series data: the fortune corpora, tokenizers, the bundled series, windows,
language-model batches and splits, with their bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import funtorch as ft
from funtorch.data import (
    ByteTokenizer,
    CharTokenizer,
    co2,
    fortunes,
    lm_batches,
    load_tokenizer,
    split_by_time,
    split_records,
    sunspots,
    windows,
)

# -- fortunes ----------------------------------------------------------------------------


def write_corpus(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_fortunes_reads_records_by_category(tmp_path):
    root = write_corpus(tmp_path / "c", {
        "b": "first\nline two\n%\nsecond\n%\n",
        "a": "*__\b\bun*der lined\n%\n\n%\nonly\n",
        "a.dat": "binary index, ignored",
        "a.u8": "a symlink in Debian, ignored",
    })
    c = fortunes(root)
    assert c.categories == ("a", "b")
    assert c.texts == ["*un*der lined", "only", "first\nline two", "second"]
    assert c.labels.tolist() == [0, 0, 1, 1]
    assert str(root) in c.source
    c = fortunes(root, categories=["b", "a"])
    assert c.categories == ("b", "a") and c.labels.tolist() == [0, 0, 1, 1]


def test_fortunes_root_subfolder_and_env(tmp_path, monkeypatch):
    write_corpus(tmp_path / "fortunes", {"x": "one\n%\ntwo\n"})
    assert fortunes(tmp_path).texts == ["one", "two"]
    monkeypatch.setenv("FUNTORCH_DATA", str(tmp_path))
    assert fortunes().texts == ["one", "two"]


def test_fortunes_falls_back_to_the_bundled_sample(tmp_path):
    c = fortunes(tmp_path / "missing")
    assert c.categories == ("fortunes", "literature", "riddles")
    assert "bundled fortunes-min sample" in c.source and "make data" in c.source
    assert len(c.texts) > 700 and all(t == t.strip("\n").rstrip() and t for t in c.texts)
    assert np.bincount(c.labels).min() > 100
    assert not any("%" == line for t in c.texts for line in t.splitlines())
    assert not any("\b" in t for t in c.texts)


def test_fortunes_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"unknown categories \['nope'\].*available: "
                                         r"fortunes, literature, riddles"):
        fortunes(tmp_path / "missing", categories=["fortunes", "nope"])
    with pytest.raises(ValueError, match="categories is empty"):
        fortunes(tmp_path / "missing", categories=[])
    with pytest.raises(TypeError, match="must be names"):
        fortunes(tmp_path / "missing", categories=[3])
    root = write_corpus(tmp_path / "empty", {"blank": "%\n\n%\n", "e": ""})
    with pytest.raises(ValueError, match="no records in categories"):
        fortunes(root)


# -- tokenizers --------------------------------------------------------------------------


def test_char_tokenizer_round_trip_specials_and_json(tmp_path):
    tok = CharTokenizer.fit(["abba", "cab"])
    assert tok.specials == ("<pad>", "<unk>", "<bos>", "<eos>") and tok.pad_id == 0
    assert tok.chars == ("a", "b", "c")  # by frequency, ties by code point
    ids = tok.encode("cab", bos=True, eos=True)
    assert ids.dtype == np.int32 and ids.tolist() == [2, 6, 4, 5, 3]
    assert tok.decode(ids) == "cab"
    assert tok.decode(ids, skip_specials=False) == "<bos>cab<eos>"
    assert tok.encode("xa", errors="replace").tolist() == [tok.unk_id, 4]
    tok.save(tmp_path / "t.json")
    back = load_tokenizer(tmp_path / "t.json")
    assert back == tok and back.encode("abc").tolist() == tok.encode("abc").tolist()
    assert json.loads((tmp_path / "t.json").read_text())["type"] == "char"


def test_char_tokenizer_bad_inputs(tmp_path):
    tok = CharTokenizer.fit("hello world")
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the vocabulary.*'H' "
                                         r"\(U\+0048\) at 0.*'!' \(U\+0021\) at 5.*errors="
                                         r"'replace'"):
        tok.encode("Hello!")
    no_unk = CharTokenizer("ab", specials=())
    with pytest.raises(ValueError, match="fit the tokenizer"):
        no_unk.encode("c")
    with pytest.raises(KeyError, match="'<unk>' is not in the vocabulary"):
        _ = no_unk.unk_id
    with pytest.raises(ValueError, match="corpus is empty"):
        CharTokenizer.fit([])
    with pytest.raises(ValueError, match="corpus is empty"):
        CharTokenizer.fit(["", ""])
    with pytest.raises(TypeError, match="expected str"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 12\)"):
        tok.decode([1, 99])
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aa")
    (tmp_path / "bad.json").write_text('{"type": "wordpiece"}')
    with pytest.raises(ValueError, match="type 'wordpiece'"):
        load_tokenizer(tmp_path / "bad.json")


def test_byte_tokenizer(tmp_path):
    tok = ByteTokenizer()
    assert tok.vocab_size == 260 and tok.pad_id == 256 and tok.eos_id == 259
    text = "naïve ☃ café"
    ids = tok.encode(text, eos=True)
    assert ids[:-1].tolist() == list(text.encode("utf-8")) and ids[-1] == 259
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_specials=False) == text + "<eos>"
    assert tok.decode([0xE2, 0x98]) == "\ufffd"  # a cut multi-byte char is replaced
    tok.save(tmp_path / "b.json")
    assert load_tokenizer(tmp_path / "b.json") == tok


# -- series ------------------------------------------------------------------------------


def test_co2_is_complete_with_interpolated_gaps():
    dates, values, observed = co2()
    assert len(dates) == 2284 and str(dates[0]) == "1958-03-29" and str(dates[-1]) == "2001-12-29"
    assert (np.diff(dates) == np.timedelta64(7, "D")).all()
    assert values.dtype == np.float32 and np.isfinite(values).all()
    assert (~observed).sum() == 59 and observed[0] and observed[-1]
    # a gap is the straight line between the measured weeks around it
    gap = np.flatnonzero(~observed)[0]
    lo, hi = gap - 1, gap + 1
    while not observed[hi]:
        hi += 1
    expect = values[lo] + (values[hi] - values[lo]) * (gap - lo) / (hi - lo)
    np.testing.assert_allclose(values[gap], expect, rtol=1e-6)
    assert 310 < values.min() < values.max() < 380


def test_sunspots_monthly():
    dates, values, observed = sunspots()
    assert len(values) == 3126 and observed.all()
    assert str(dates[0]) == "1749-01" and str(dates[-1]) == "2009-06"
    assert np.all(np.diff(dates) == np.timedelta64(1, "M"))
    np.testing.assert_array_equal(values[:3], np.float32([58.0, 62.6, 70.0]))
    assert values[-1] == np.float32(2.6) and values.min() >= 0 and values.max() > 250


def test_windows_match_a_loop():
    s = sunspots().values[:100]
    x, y = windows(s, 12, 3, stride=5)
    starts = range(0, 100 - 15 + 1, 5)
    assert x.shape == (len(starts), 12) and y.shape == (len(starts), 3)
    for i, st in enumerate(starts):
        np.testing.assert_array_equal(x[i], s[st:st + 12])
        np.testing.assert_array_equal(y[i], s[st + 12:st + 15])
    m = np.stack([s, -s], axis=1)  # [T, features]
    x2, y2 = windows(m, 4, 2)
    assert x2.shape == (95, 4, 2) and y2.shape == (95, 2, 2)
    np.testing.assert_array_equal(x2[3, :, 1], -s[3:7])
    x3, y3 = windows(s[:15], 12, 3)  # exactly one window
    assert x3.shape == (1, 12)


def test_windows_bad_inputs():
    with pytest.raises(ValueError, match=r"series has 10 steps, shorter than one window "
                                         r"\(input_len 8 \+ horizon 3 = 11\)"):
        windows(np.arange(10.0), 8, 3)
    with pytest.raises(ValueError, match="horizon must be positive"):
        windows(np.arange(10.0), 3, 0)
    with pytest.raises(TypeError, match="input_len must be a positive int"):
        windows(np.arange(10.0), 2.5, 1)
    with pytest.raises(ValueError, match="scalar"):
        windows(np.float32(3), 1, 1)


def test_split_by_time_keeps_order_and_context():
    s = np.arange(100)
    tr, va, te = split_by_time(s, valid=0.1, test=20)
    assert tr.tolist() == list(range(70)) and va.tolist() == list(range(70, 80))
    assert te.tolist() == list(range(80, 100))
    tr, va, te = split_by_time(s, 10, 20, context=5)
    assert va[0] == 65 and te[0] == 75 and te[-1] == 99
    x, y = windows(te, 5, 2)
    assert y.min() >= 80  # targets only in the test span
    with pytest.raises(ValueError, match="leave nothing to train on"):
        split_by_time(s, 0.5, 50)
    with pytest.raises(ValueError, match="fraction must be in"):
        split_by_time(s, 1.5)


def test_split_records_is_a_keyed_partition():
    a = split_records(50, ft.random.key(0), valid=0.2, test=5)
    assert [len(p) for p in a] == [35, 10, 5]
    assert sorted(np.concatenate(a).tolist()) == list(range(50))
    b = split_records(50, ft.random.key(0), valid=0.2, test=5)
    c = split_records(50, ft.random.key(1), valid=0.2, test=5)
    assert all((p == q).all() for p, q in zip(a, b))
    assert not (a[0] == c[0]).all()
    with pytest.raises(TypeError, match="expected a key"):
        split_records(50, 0)


# -- language-model batches --------------------------------------------------------------


def test_lm_batches_shift_by_one():
    tokens = np.arange(1000, dtype=np.int32)
    it = lm_batches(tokens, 10, 8)
    assert len(it) == 12  # 99 sequences of 10 (+1): 12 full batches of 8
    x, y = next(iter(it))
    assert x.shape == y.shape == (8, 10)
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[1], np.arange(10, 20))
    keyed = [x for x, _ in lm_batches(tokens, 10, 8, ft.random.key(3))]
    again = [x for x, _ in lm_batches(tokens, 10, 8, ft.random.key(3))]
    assert all((a == b).all() for a, b in zip(keyed, again))
    firsts = np.concatenate([x[:, 0] for x in keyed])
    assert len(set(firsts.tolist())) == 96 and not (np.diff(firsts) > 0).all()


def test_lm_batches_bad_inputs():
    with pytest.raises(ValueError, match="fewer than one batch"):
        lm_batches(np.arange(50), 10, 8)
    with pytest.raises(ValueError, match="make 0 sequences"):
        lm_batches(np.arange(0), 10, 1)
    with pytest.raises(TypeError, match="1-D array of int ids"):
        lm_batches(np.zeros(100), 10, 1)
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        lm_batches(np.arange(100), 0, 1)


def test_bpe_tokenizer_round_trip_and_json(tmp_path):
    pytest.importorskip("tokenizers")  # the 'text' extra; the test extra installs it
    from funtorch.data import BPETokenizer

    corpus = fortunes(tmp_path / "missing")
    tok = BPETokenizer.fit(corpus.texts, vocab_size=400)
    assert tok.vocab_size == 400 and tok.pad_id == 0 and tok.specials[1] == "<unk>"
    text = "The riddle of the sphinx ☃"
    ids = tok.encode(text, bos=True)
    assert ids.dtype == np.int32 and ids[0] == tok.bos_id
    assert len(ids) < len(text.encode("utf-8"))  # merges make it shorter than bytes
    assert tok.decode(ids) == text  # byte-level: characters never seen still round-trip
    tok.save(tmp_path / "bpe.json")
    back = load_tokenizer(tmp_path / "bpe.json")
    assert back.encode(text).tolist() == tok.encode(text).tolist()
    with pytest.raises(ValueError, match="corpus is empty"):
        BPETokenizer.fit(["", ""])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([10_000])
