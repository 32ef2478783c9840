"""Generate, compile and cache fused elementwise(+reduction) kernels from a small description.

Description (:class:`FusedSpec`, hashable, all tuples)::

    FusedSpec.make(
        inputs=[("x", (4, 1), "float32"), ("y", (8,), "float16")],  # name, shape, dtype
        body=[("t", "mul", ("x", "y")),        # SSA: (result, op, args)
              ("u", "add", ("t", 1.5)),        # Python numbers are scalar constants
              ("z", "tanh", ("u",))],
        outputs=["z"],
        reduce=None,                           # or ("sum" | "max" | "min" | "mean", naxes)
    )

Inputs broadcast against each other with numpy rules; every output has the broadcast shape,
or, with ``reduce=(op, k)``, that shape minus its last ``k`` axes (each output reduced by op).
Ops (see ``OPS``): add sub mul div pow max min (NaN-propagating) neg abs exp log log1p expm1
tanh logistic sqrt rsqrt sin cos erf; lt le gt ge eq ne -> bool; and or not on bools;
where(cond, a, b) (alias select); ``cast:<dtype>`` (e.g. ``cast:float16``).
Dtypes: float32 float16 bfloat16 float64 int32 int64 bool. Results promote like numpy with
Python constants taking the other operand's type; ``div`` and the transcendental ops turn
integers into float32. float16/bfloat16 values are computed in float32 and rounded only when
stored (or by an explicit cast), as PyTorch's inductor does.

The generated source is a real module under the cache directory (``FUNTORCH_CUDA_KERNEL_CACHE``,
else ``$XDG_CACHE_HOME/funtorch/cuda_kernels``, else ``~/.cache/funtorch/cuda_kernels``) named
by its SHA-256, so Numba's on-disk cache (``cache=True``) can key on it; kernels are also kept in
memory by spec and by source hash. Shapes are compiled in: index math divides by constants.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import cuda

from . import _dtypes
from ._common import SIMULATOR, THREADS_1D, alloc, as_device, blocks_for

_BINARY_ARITH = {
    "add": "({a} + {b})",
    "sub": "({a} - {b})",
    "mul": "({a} * {b})",
    "div": "({a} / {b})",
    "pow": "_fm.pow({a}, {b})",
}
_FLOAT_MAX = "({a} if ({a} > {b} or {a} != {a}) else {b})"
_FLOAT_MIN = "({a} if ({a} < {b} or {a} != {a}) else {b})"
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_UNARY_FLOAT = {
    "exp": "_fm.exp({a})",
    "log": "_fm.log({a})",
    "log1p": "_fm.log1p({a})",
    "expm1": "_fm.expm1({a})",
    "tanh": "_fm.tanh({a})",
    "sqrt": "_fm.sqrt({a})",
    "rsqrt": "(float32(1) / _fm.sqrt({a}))",
    "sin": "_fm.sin({a})",
    "cos": "_fm.cos({a})",
    "erf": "_fm.erf({a})",
    "logistic": "(float32(1) / (float32(1) + _fm.exp(-{a})))",
}
OPS = frozenset(
    [
        *_BINARY_ARITH,
        "max",
        "min",
        *_COMPARE,
        *_UNARY_FLOAT,
        "neg",
        "abs",
        "and",
        "or",
        "not",
        "where",
        "select",
    ]
)
_ARITY = {
    **{k: 2 for k in (*_BINARY_ARITH, "max", "min", *_COMPARE, "and", "or")},
    **{k: 1 for k in (*_UNARY_FLOAT, "neg", "abs", "not")},
    "where": 3,
    "select": 3,
}
REDUCTIONS = ("sum", "max", "min", "mean")
DTYPES = {
    name: np.dtype(t)
    for name, t in [
        ("float32", np.float32),
        ("float16", np.float16),
        ("bfloat16", _dtypes.BFLOAT16),
        ("float64", np.float64),
        ("int32", np.int32),
        ("int64", np.int64),
        ("bool", np.bool_),
    ]
}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class FusedSpec(NamedTuple):
    inputs: tuple  # ((name, shape, dtype_name), ...)
    body: tuple  # ((result, op, args), ...)
    outputs: tuple  # (name, ...)
    reduce: tuple | None = None  # (op, naxes)

    @classmethod
    def make(cls, inputs, body, outputs, reduce=None) -> FusedSpec:
        """Normalise lists and dtype objects into the canonical, hashable form."""
        ins = tuple(
            (str(n), tuple(int(d) for d in shape), _dtype_name(dt)) for n, shape, dt in inputs
        )
        instrs = tuple((str(r), str(op), tuple(args)) for r, op, args in body)
        red = None if reduce is None else (str(reduce[0]), int(reduce[1]))
        return cls(ins, instrs, tuple(str(o) for o in outputs), red)


def _dtype_name(dt) -> str:
    if isinstance(dt, str) and dt in DTYPES:
        return dt
    name = _DTYPE_NAMES.get(np.dtype(dt))
    if name is None:
        raise ValueError(f"unsupported dtype {dt!r}; expected one of {sorted(DTYPES)}")
    return name


# --- typing -------------------------------------------------------------------------------

_FLOAT_RANK = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}
_KIND = {
    "float32": "f",
    "float16": "f",
    "bfloat16": "f",
    "float64": "f",
    "int32": "i",
    "int64": "i",
    "bool": "b",
}
_COMPUTE = {
    "float32": "float32",
    "float16": "float32",
    "bfloat16": "float32",
    "float64": "float64",
    "int32": "int64",
    "int64": "int64",
    "bool": "boolean",
}


def _promote(a: str, b: str) -> str:
    if a == b:
        return a
    ka, kb = _KIND[a], _KIND[b]
    if ka == "f" and kb == "f":
        ra, rb = _FLOAT_RANK[a], _FLOAT_RANK[b]
        return (a if ra > rb else b) if ra != rb else "float32"  # float16 + bfloat16
    if ka == "f" or kb == "f":
        return a if ka == "f" else b
    if ka == "i" and kb == "i":
        return "int64"
    return a if ka == "i" else b  # int with bool


def _as_float(dt: str) -> str:
    return dt if _KIND[dt] == "f" else "float32"


def _result_dtype(op: str, dts: list[str]) -> str:
    if op in _COMPARE or op in ("and", "or", "not"):
        return "bool"
    if op.startswith("cast:"):
        return op[5:]
    if op in ("where", "select"):
        return _promote(dts[1], dts[2])
    if op in _UNARY_FLOAT:
        return _as_float(dts[0])
    if op in ("neg", "abs"):
        return dts[0]
    out = _promote(dts[0], dts[1])
    return _as_float(out) if op in ("div", "pow") else out


# --- code generation ----------------------------------------------------------------------


def _broadcast(shapes):
    if not shapes:
        raise ValueError("a fused kernel needs at least one input")
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError as e:
        raise ValueError(f"inputs do not broadcast: {shapes}") from e


def _load(dt: str, expr: str) -> str:
    return {
        "float16": f"_dt.f16_to_f32({expr})",
        "bfloat16": f"_dt.bf16_to_f32({expr})",
        "int32": f"int64({expr})",
    }.get(dt, expr)


def _store(dt: str, expr: str) -> str:
    return {
        "float16": f"_dt.f32_to_f16({expr})",
        "bfloat16": f"_dt.f32_to_bf16({expr})",
        "int32": f"int32({expr})",
        "float32": f"float32({expr})",
    }.get(dt, expr)


def _cast(dst: str, expr: str) -> str:
    if dst == "bool":
        return f"({expr} != 0)"
    if dst in ("float16", "bfloat16"):  # round through the narrow type, keep computing in f32
        return _load(dst, _store(dst, f"float32({expr})"))
    return f"{_COMPUTE[dst]}({expr})"


def _convert(expr: str, src: str, dst: str) -> str:
    """Bring a value of dtype src into the compute type of dst (no rounding to narrow floats)."""
    return expr if _COMPUTE[src] == _COMPUTE[dst] else f"{_COMPUTE[dst]}({expr})"


def _const(value, dt: str) -> str:
    if isinstance(value, bool) or dt == "bool":
        return "True" if value else "False"
    if _KIND[dt] == "i":
        return f"int64({int(value)})"
    return f"{_COMPUTE[dt]}({float(value)!r})"


def _const_dtype(value) -> str:
    return "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "float32"


def _expr(op, args, res_dt):
    """Python expression for one instruction; args are already-converted operand strings."""
    if op.startswith("cast:"):
        return _cast(op[5:], args[0])
    a = args[0]
    if op in _BINARY_ARITH:
        return _BINARY_ARITH[op].format(a=a, b=args[1])
    if op in ("max", "min"):
        if _KIND[res_dt] == "f":
            return (_FLOAT_MAX if op == "max" else _FLOAT_MIN).format(a=a, b=args[1])
        return f"{op}({a}, {args[1]})"
    if op in _COMPARE:
        return f"({a} {_COMPARE[op]} {args[1]})"
    if op in _UNARY_FLOAT:
        return _UNARY_FLOAT[op].format(a=a)
    if op == "neg":
        return f"(-{a})"
    if op == "abs":
        return f"abs({a})"
    if op == "not":
        return f"(not {a})"
    if op in ("and", "or"):
        return f"({a} {op} {args[1]})"
    return f"({args[1]} if {a} else {args[2]})"  # where / select


def _operand_dtypes(op, dts, res_dt):
    """The dtype each operand is converted to before the op runs."""
    if op in _COMPARE:
        common = _promote(dts[0], dts[1])
        return [common, common]
    if op in ("where", "select"):
        return ["bool", res_dt, res_dt]
    if op in ("and", "or", "not") or op.startswith("cast:"):
        return dts
    return [res_dt] * len(dts)


_KIND_RANK = {"b": 0, "i": 1, "f": 2}


class _Gen:
    """Turns a FusedSpec into kernel source text."""

    def __init__(self, spec: FusedSpec):
        self.spec = spec
        names = [n for n, _, _ in spec.inputs] + [r for r, _, _ in spec.body]
        if len(set(names)) != len(names):
            raise ValueError("value names must be unique")
        self.shape = _broadcast([s for _, s, _ in spec.inputs])
        self.dtypes = {n: dt for n, _, dt in spec.inputs}
        self.operand_dtypes = []  # per instruction: dtype of each operand, constants resolved
        for res, op, args in spec.body:
            if op.startswith("cast:"):
                if op[5:] not in DTYPES or len(args) != 1:
                    raise ValueError(f"bad cast {op!r} with {len(args)} arguments")
            elif op not in OPS:
                raise ValueError(f"unknown op {op!r}")
            elif len(args) != _ARITY[op]:
                raise ValueError(f"{op} takes {_ARITY[op]} arguments, got {len(args)}")
            dts = self._operand_types(op, args)
            self.operand_dtypes.append(dts)
            self.dtypes[res] = _result_dtype(op, dts)
        for o in spec.outputs:
            if o not in self.dtypes:
                raise ValueError(f"output {o!r} is not defined")
        self.out_shape, self.red_len = self.shape, 1
        self.threads = THREADS_1D
        if spec.reduce is not None:
            op, naxes = spec.reduce
            if op not in REDUCTIONS or not 0 < naxes <= len(self.shape):
                raise ValueError(f"bad reduction {spec.reduce}")
            if any(_KIND[self.dtypes[o]] != "f" for o in spec.outputs):
                raise ValueError("reductions need floating-point outputs")
            self.out_shape = self.shape[: len(self.shape) - naxes]
            self.red_len = math.prod(self.shape[len(self.shape) - naxes :])
            self.threads = _reduce_threads(self.red_len)

    def _operand_types(self, op, args):
        """Operand dtypes; a constant takes the dtype of a variable operand unless its own
        kind (bool < int < float) is higher, as for numpy/JAX weak Python scalars."""
        dts = []
        for a in args:
            if isinstance(a, str):
                if a not in self.dtypes:
                    raise ValueError(f"{a!r} used before definition")
                dts.append(self.dtypes[a])
            elif isinstance(a, (bool, int, float)):
                dts.append(None)
            else:
                raise ValueError(f"bad argument {a!r}")
        values = dts[1:] if op in ("where", "select") else dts
        known = [d for d in values if d is not None]
        for k, (a, d) in enumerate(zip(args, dts, strict=True)):
            if d is None:
                own = "bool" if op in ("where", "select") and k == 0 else _const_dtype(a)
                other = known[-1] if known and not (op in ("where", "select") and k == 0) else own
                dts[k] = other if _KIND_RANK[_KIND[own]] <= _KIND_RANK[_KIND[other]] else own
        return dts

    def _index_lines(self, flat: str, indent: str) -> list[str]:
        """Coordinates of the broadcast shape from a flat index, then each input's load."""
        nd, lines = len(self.shape), []
        padded = [(1,) * (nd - len(s)) + s for _, s, _ in self.spec.inputs]
        need = {d for p in padded if p != self.shape for d in range(nd) if p[d] != 1}
        lowest = min(need, default=nd)
        if need:
            lines.append(f"{indent}rem = {flat}")
        for d in range(nd - 1, lowest - 1, -1):
            if d == 0:
                lines.append(f"{indent}c0 = rem")
            else:
                lines.append(f"{indent}c{d} = rem % {self.shape[d]}")
                if d > lowest:
                    lines.append(f"{indent}rem = rem // {self.shape[d]}")
        for k, ((name, _, dt), p) in enumerate(zip(self.spec.inputs, padded, strict=True)):
            if p == self.shape:
                off = flat
            else:
                terms, stride = [], 1
                for d in range(nd - 1, -1, -1):
                    if p[d] != 1:
                        terms.append(f"c{d} * {stride}" if stride != 1 else f"c{d}")
                        stride *= p[d]
                off = " + ".join(reversed(terms)) or "0"
            lines.append(f"{indent}v_{name} = {_load(dt, f'in{k}[{off}]')}")
        return lines

    def _body_lines(self, indent: str) -> list[str]:
        lines = []
        for (res, op, args), dts in zip(self.spec.body, self.operand_dtypes, strict=True):
            res_dt = self.dtypes[res]
            strs = [
                _const(a, dst) if not isinstance(a, str) else _convert(f"v_{a}", src, dst)
                for a, src, dst in zip(args, dts, _operand_dtypes(op, dts, res_dt), strict=True)
            ]
            lines.append(f"{indent}v_{res} = {_expr(op, strs, res_dt)}")
        return lines

    def source(self) -> str:
        spec = self.spec
        ins = [f"in{k}" for k in range(len(spec.inputs))]
        outs = [f"out{k}" for k in range(len(spec.outputs))]
        arg_types = [_array_type(dt) for _, _, dt in spec.inputs]
        arg_types += [_array_type(self.dtypes[o]) for o in spec.outputs]
        lines = [
            "# Generated by cuda_kernels.fused; do not edit.",
            f"# spec: {spec!r}",
            "import math",
            "",
            "from numba import boolean, cuda, float32, float64, int32, int64, types",
            "",
            "from cuda_kernels import _block, _fmath as _fm, _dtypes as _dt",
            "",
            f"SIGNATURE = types.void({', '.join(arg_types)})",
            f"THREADS = {self.threads}",
        ]
        stores = [(o, self.dtypes[n], f"v_{n}") for o, n in zip(outs, spec.outputs, strict=True)]
        if spec.reduce is None:
            lines += [
                "",
                "",
                f"def kernel({', '.join(ins + outs)}):",
                "    i = cuda.grid(1)",
                f"    while i < {math.prod(self.shape)}:",
                *self._index_lines("i", "        "),
                *self._body_lines("        "),
                *[f"        {o}[i] = {_store(dt, v)}" for o, dt, v in stores],
                "        i += cuda.gridsize(1)",
            ]
            return "\n".join(lines) + "\n"
        op, _ = spec.reduce
        combine = "_block.combine_" + {"mean": "sum"}.get(op, op)
        init = {"max": "-math.inf", "min": "math.inf"}.get(op, "0.0")
        length = self.red_len
        lines += [
            f"_reduce = _block.block_reducer({combine}, THREADS, float32)",
            "",
            "",
            f"def kernel({', '.join(ins + outs)}):",
            "    row = cuda.blockIdx.x",
            f"    while row < {math.prod(self.out_shape)}:",
            *[f"        acc{k} = float32({init})" for k in range(len(outs))],
            "        r = cuda.threadIdx.x",
            f"        while r < {length}:",
            f"            i = row * {length} + r",
            *self._index_lines("i", "            "),
            *self._body_lines("            "),
            *[
                f"            acc{k}, _ = {combine}(acc{k}, 0, float32({v}), 0)"
                for k, (_, _, v) in enumerate(stores)
            ],
            "            r += THREADS",
        ]
        for k, (o, dt, _) in enumerate(stores):
            value = f"acc{k} / float32({length})" if op == "mean" else f"acc{k}"
            lines += [
                f"        acc{k}, _ = _reduce(acc{k}, float32(0))",
                "        if cuda.threadIdx.x == 0:",
                f"            {o}[row] = {_store(dt, value)}",
            ]
        lines.append("        row += cuda.gridDim.x")
        return "\n".join(lines) + "\n"


def _reduce_threads(length: int) -> int:
    """Smallest power of two covering the row, within [32, 256] (simulator: [1, 16])."""
    lo, hi = (1, 16) if SIMULATOR else (32, 256)
    return max(lo, min(hi, 1 << max(0, length - 1).bit_length()))


def _array_type(dt: str) -> str:
    name = {"bfloat16": "uint16", "bool": "boolean"}.get(dt, dt)
    return f"types.Array(types.{name}, 1, 'C')"


# --- compile and cache --------------------------------------------------------------------


def cache_dir() -> Path:
    env = os.environ.get("FUNTORCH_CUDA_KERNEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "funtorch" / "cuda_kernels"


def _write_module(source: str, digest: str) -> Path:
    path = cache_dir() / f"fused_{digest[:24]}.py"
    if not path.exists() or path.read_text() != source:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: concurrent processes never see a partial file
    return path


def _import(path: Path):
    name = f"cuda_kernels_fused_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class FusedKernel:
    """A generated kernel; call it with device arrays to get a tuple of outputs."""

    def __init__(self, spec: FusedSpec, gen: _Gen, source: str, digest: str):
        self.spec, self.source, self.digest = spec, source, digest
        self.path = _write_module(source, digest)
        self.module = _import(self.path)
        self.pyfunc, self.signature = self.module.kernel, self.module.SIGNATURE
        self.threads = gen.threads
        self.out_shape = gen.out_shape
        self.out_dtypes = tuple(DTYPES[gen.dtypes[o]] for o in spec.outputs)
        self._rows = math.prod(gen.out_shape) if spec.reduce else math.prod(gen.shape)

    @functools.cached_property
    def kernel(self):
        if SIMULATOR:
            return cuda.jit(self.signature)(self.pyfunc)
        return cuda.jit(self.signature, cache=True, launch_bounds=self.threads)(self.pyfunc)

    def __call__(self, *inputs, outs=None, stream=0, pool=None):
        if len(inputs) != len(self.spec.inputs):
            raise TypeError(f"expected {len(self.spec.inputs)} inputs, got {len(inputs)}")
        args = []
        for x, (name, shape, dt) in zip(inputs, self.spec.inputs, strict=True):
            x = as_device(x)
            if tuple(x.shape) != shape or np.dtype(x.dtype) != DTYPES[dt]:
                raise ValueError(f"input {name}: expected {shape} {dt}, got {x.shape} {x.dtype}")
            args.append(_dtypes.raw(x).reshape(x.size))
        if outs is None:
            outs = tuple(alloc(self.out_shape, dt, pool) for dt in self.out_dtypes)
        outs = tuple(as_device(o) for o in outs)
        for o, dt in zip(outs, self.out_dtypes, strict=True):
            if tuple(o.shape) != self.out_shape or np.dtype(o.dtype) != dt:
                raise ValueError(f"output: expected {self.out_shape} {dt}, got {o.shape} {o.dtype}")
        args += [_dtypes.raw(o).reshape(o.size) for o in outs]
        if self._rows:
            if self.spec.reduce:
                blocks = blocks_for(self._rows, 1)  # a block per output row
            else:
                blocks = blocks_for(self._rows, self.threads)
            self.kernel[blocks, self.threads, stream](*args)
        return outs


# Keyed by repr: tuples compare 1 == 1.0 == True, but those constants type differently.
_BY_SPEC: dict[str, FusedKernel] = {}
_BY_DIGEST: dict[str, FusedKernel] = {}


def generate(spec: FusedSpec) -> str:
    """The kernel source for ``spec`` (validates the description)."""
    return _Gen(spec).source()


def compile_fused(spec: FusedSpec) -> FusedKernel:
    """The kernel for ``spec``, generated and loaded once per process (and source hash)."""
    key = repr(spec)
    kernel = _BY_SPEC.get(key)
    if kernel is None:
        gen = _Gen(spec)
        source = gen.source()
        digest = hashlib.sha256(source.encode()).hexdigest()
        kernel = _BY_DIGEST.get(digest)
        if kernel is None:
            kernel = _BY_DIGEST[digest] = FusedKernel(spec, gen, source, digest)
        _BY_SPEC[key] = kernel
    return kernel
