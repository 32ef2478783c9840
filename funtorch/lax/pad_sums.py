"""A sum of zero pads that tile one axis as one concatenate.

The cotangent of an array read through slices (``split`` into an LSTM's four gates) is
the sum of the slices' cotangents padded back to the full shape:
``pad(di) + pad(df) + pad(dg) + pad(do)``, each pad a full-size array of zeros around its
piece. Where two zero pads of the sum place their pieces side by side along one axis (and
pad no other), their sum is their pieces concatenated, padded once:

    pad(a, 0, [.., (lo, n - lo - |a|, 0), ..]) + pad(b, 0, [.., (lo + |a|, hi, 0), ..])
        = pad(concatenate([a, b]), 0, [.., (lo, hi, 0), ..])

(the outer pad vanishes when the pieces cover the axis; a concatenate of concatenates
along the axis is flattened), so the four gates' cotangents are written once, side by
side, instead of four zero arrays filled and added (a pad read elsewhere too stays for
that reader). Equal values but for the sign of a zero cotangent (``-0.0 + 0.0`` is
``+0.0``; the concatenate keeps ``-0.0``). Registered as a graph rewrite
(``core.passes.rewrite_rules``) that the backends' fusion analysis runs on jitted graphs.
"""

from __future__ import annotations

from ..core import passes
from ..core.graph import Eqn, Literal, Var
from .elementwise import add_p
from .shape import concatenate_p, pad_p


def _zero_pad(x, producer):
    """(piece, padding config, pad value) when ``x`` is a zero pad, else None."""
    e = producer.get(x) if type(x) is Var else None
    if e is None or e.prim is not pad_p:
        return None
    pv = e.inputs[1]
    if type(pv) is not Literal or pv.val != 0:
        return None
    cfg = e.params["padding_config"]
    if any(i != 0 or lo < 0 or hi < 0 for lo, hi, i in cfg):
        return None
    return e.inputs[0], cfg, pv


def _pieces(x, axis, producer):
    e = producer.get(x) if type(x) is Var else None
    if e is not None and e.prim is concatenate_p and e.params["dimension"] == axis:
        return list(e.inputs)
    return [x]


def sum_of_zero_pads(eqn, producer, uses):
    """The equations replacing ``add`` ``eqn`` (see the module docstring), or None."""
    pads = [_zero_pad(x, producer) for x in eqn.inputs]
    if len(pads) != 2 or None in pads or pads[0][1] == pads[1][1]:
        return None
    axes = {d for _, cfg, _ in pads for d, (lo, hi, _) in enumerate(cfg) if lo or hi}
    if len(axes) != 1:
        return None
    (d,) = axes
    first, second = sorted(pads, key=lambda p: p[1][d][0])
    (a, ca, pv), (b, cb, _) = first, second
    if ca[d][0] + a.aval.shape[d] != cb[d][0]:
        return None                      # not side by side (a gap, or overlapping)
    out = eqn.outputs[0]
    lo, hi = ca[d][0], cb[d][1]
    cat = out if lo == hi == 0 else Var(out.aval.update(
        shape=tuple(s - lo - hi if k == d else s for k, s in enumerate(out.aval.shape))))
    new = [Eqn(concatenate_p, _pieces(a, d, producer) + _pieces(b, d, producer), [cat],
               {"dimension": d})]
    if cat is not out:
        cfg = tuple((lo, hi, 0) if k == d else (0, 0, 0) for k in range(out.aval.ndim))
        new.append(Eqn(pad_p, [cat, pv], [out], {"padding_config": cfg}))
    return new


passes.rewrite_rules[add_p] = sum_of_zero_pads
