"""Dense Jacobians: jacfwd (vmap of jvp), jacrev (vmap of vjp), hessian."""

from __future__ import annotations

import numpy as np

from ... import tree as tree_util
from ...core import dtypes
from ...core.trace import get_aval
from ._util import (
    AuxPass,
    argnums_tuple,
    asarray,
    check_diff_inputs,
    check_holomorphic,
    float0_zeros,
    is_float,
    is_float0,
)
from .autodiff import jvp, vjp
from .vectorize import vmap


def _check_float_outputs(name, leaves):
    """Reverse-mode Jacobians need a cotangent basis per output: an integer or bool
    output has none (JAX raises the same)."""
    for o in leaves:
        d = get_aval(o).dtype
        if not dtypes.is_float(d):
            raise TypeError(
                f"funtorch.{name}: the function's outputs must be floating point, got {d} "
                f"(shape {tuple(get_aval(o).shape)}). An integer or boolean output has no "
                "derivative: drop it or cast it with .astype(ft.float32), or use ft.vjp "
                "directly (integer outputs take any cotangent and contribute nothing) or "
                "ft.jacfwd (which gives a float0 Jacobian for them).")


def _std_basis(flat):
    """One-hot tangents stacked along a new leading axis, for every input element."""
    sizes = [int(np.prod(np.shape(x), dtype=np.int64)) for x in flat]
    total = sum(sizes)
    eye = np.eye(total, dtype=np.float64)
    out, start = [], 0
    for x, n in zip(flat, sizes):
        a = get_aval(x)
        out.append(asarray(eye[:, start:start + n].reshape((total, *a.shape)).astype(a.dtype)))
        start += n
    return out, total


def jacfwd(fun, argnums=0, has_aux=False, holomorphic=False):
    """Jacobian by forward mode: output shape = out.shape + in.shape."""
    check_holomorphic("jacfwd", holomorphic)

    def jac(*args):
        aux_fun = AuxPass(fun, "jacfwd") if has_aux else fun
        nums = argnums_tuple(argnums, len(args), "jacfwd")
        dargs = [args[i] for i in nums]
        flat, tree_d = tree_util.flatten(dargs)
        flat = [asarray(x) for x in flat]
        for x in flat:
            if not is_float(x):
                raise TypeError(
                    f"funtorch.jacfwd: differentiated arguments must be floating point, got "
                    f"{get_aval(x).dtype} (shape {tuple(get_aval(x).shape)}, "
                    f"argnums={argnums}): forward mode pushes a float tangent through every "
                    "input element. Cast with .astype(ft.float32), choose other argnums, or "
                    "use ft.jvp with float0 tangents (or ft.jacrev(..., allow_int=True)) "
                    "for integer inputs.")
        basis, total = _std_basis(flat)

        def f_flat(*xs):
            full = list(args)
            for i, v in zip(nums, tree_util.unflatten(tree_d, xs)):
                full[i] = v
            return aux_fun(*full)

        def push(*ts):
            return jvp(f_flat, tuple(flat), tuple(ts), has_aux=has_aux)

        if has_aux:
            out, t_out, aux = vmap(push, in_axes=0, out_axes=(None, -1, None))(*basis)
        else:
            out, t_out = vmap(push, in_axes=0, out_axes=-1)(*basis)

        def per_output(t):
            if is_float0(t):   # an integer output: a float0 Jacobian, as in JAX
                lead = get_aval(t).shape[:-1]
                parts = [float0_zeros((*lead, *get_aval(x).shape)) for x in flat]
            else:
                parts = _split_last(t, flat)
            parts = tree_util.unflatten(tree_d, parts)
            return parts[0] if isinstance(argnums, int) else tuple(parts)

        jac_tree = tree_util.map(per_output, t_out)
        return (jac_tree, aux_fun.restore(aux)) if has_aux else jac_tree

    return jac


def _split_last(t, flat):
    out, start = [], 0
    lead = get_aval(t).shape[:-1]
    for x in flat:
        shp = get_aval(x).shape
        n = int(np.prod(shp, dtype=np.int64))
        out.append(t[..., start:start + n].reshape((*lead, *shp)))
        start += n
    return out


def jacrev(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """Jacobian by reverse mode: output shape = out.shape + in.shape. Outputs must be
    floating point; integer inputs need ``allow_int=True`` and get float0 Jacobians."""
    check_holomorphic("jacrev", holomorphic)

    def jac(*args):
        nums = argnums_tuple(argnums, len(args), "jacrev")
        dargs = [args[i] for i in nums]
        check_diff_inputs("jacrev", [asarray(x) for x in tree_util.leaves(dargs)],
                           argnums, allow_int)

        def f_d(*d):
            full = list(args)
            for i, v in zip(nums, d):
                full[i] = v
            return fun(*full)

        if has_aux:
            out, vjp_fn, aux = vjp(f_d, *dargs, has_aux=True)
        else:
            out, vjp_fn = vjp(f_d, *dargs)
        flat_o, tree_o = tree_util.flatten(out)
        _check_float_outputs("jacrev", flat_o)
        basis, total = _std_basis(flat_o)
        cts = vmap(lambda *b: vjp_fn(tree_util.unflatten(tree_o, list(b))))(*basis)
        # cts: tuple over dargs, leaves with shape (total,) + in.shape
        per_out = []
        start = 0
        for o in flat_o:
            shp = get_aval(o).shape
            n = int(np.prod(shp, dtype=np.int64))

            def pick(c, shp=shp, start=start, n=n):
                if is_float0(c):   # an integer input (allow_int=True)
                    return float0_zeros((*shp, *get_aval(c).shape[1:]))
                return c[start:start + n].reshape((*shp, *get_aval(c).shape[1:]))

            per_out.append(tree_util.map(pick, cts))
            start += n
        res = [p[0] if isinstance(argnums, int) else tuple(p) for p in per_out]
        res = tree_util.unflatten(tree_o, res)
        return (res, aux) if has_aux else res

    return jac


def hessian(fun, argnums=0, has_aux=False, holomorphic=False):
    check_holomorphic("hessian", holomorphic)
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux), argnums, has_aux=has_aux)
