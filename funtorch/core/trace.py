"""Primitives, the interpreter stack, tracers and the eval interpreter.

This is Autodidax part 1/3: ``bind`` finds the innermost active interpreter among
its arguments (and the dynamic trace, for jit's omnistaging) and lets it process
the primitive. Interpreters own their rule tables; nothing here names a primitive.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import dtypes
from .abstract import ShapedArray
from .errors import ConcretizationTypeError, UnexpectedTracerError

# --------------------------------------------------------------------------- primitives

# What a primitive is, for the backends: ``elementwise`` (fused into loops as a scalar
# expression), ``reduction`` (fused as a loop's accumulator), ``view`` (moves no data: its
# readers fold it into their indices), ``library`` (a kernel or library call of its own),
# ``control_flow`` (runs sub-graphs).
KINDS = ("elementwise", "reduction", "view", "library", "control_flow")


class Primitive:
    """A named operation. Arrays go in positionally, static params as keywords.
    ``kind``: one of ``KINDS``. Every primitive is in ``primitives`` under its name."""

    multiple_results = False
    # Whether the result stays weakly typed when it promotes a weak value to a default
    # dtype (int + 2.5), as well as when it keeps the weak dtype (see core/weak.py).
    weak_promotion = False
    # For primitives that name axes (collectives; jit over a graph that uses them):
    # ``axis_mains(params) -> [MainTrace]``, the vmaps binding those names, whose traces
    # must process the primitive even when no argument is traced by them (core/axis_env).
    axis_mains = None

    def __init__(self, name: str, *, kind: str, multiple_results: bool = False):
        if kind not in KINDS:
            raise ValueError(f"funtorch: primitive '{name}' needs a kind among {KINDS}, "
                             f"got {kind!r}")
        self.name = name
        self.kind = kind
        self.multiple_results = multiple_results
        primitives[name] = self

    def __repr__(self):
        return self.name

    def bind(self, *args, **params):
        return bind(self, *args, **params)

    def def_impl(self, fn):
        impl_rules[self] = fn
        return fn

    def def_abstract_eval(self, fn):
        abstract_eval_rules[self] = fn
        return fn


# The registry: name -> Primitive (backends key their lowering tables by these names).
primitives: dict[str, Primitive] = {}
# Eager implementations: numpy arrays in, numpy array(s) out (a list if multiple_results).
impl_rules: dict[Primitive, callable] = {}
# Shape/dtype rules: ShapedArrays in, ShapedArray(s) out (a list if multiple_results).
abstract_eval_rules: dict[Primitive, callable] = {}
# The primitive as a composite of others, ``fn(*args, **params) -> result``: backends that
# have no kernel for an equation of it compile the composite instead.
decompositions: dict[Primitive, callable] = {}


def abstract_eval(prim, avals, params):
    try:
        rule = abstract_eval_rules[prim]
    except KeyError:
        raise NotImplementedError(f"funtorch: no shape rule for primitive '{prim}'") from None
    out = rule(*avals, **params)
    return list(out) if prim.multiple_results else [out]


# --------------------------------------------------------------------------- interpreter stack

class MainTrace:
    __slots__ = ("level", "trace_type", "global_data", "alive")

    def __init__(self, level, trace_type, global_data):
        self.level = level
        self.trace_type = trace_type
        self.global_data = global_data
        self.alive = True

    def __repr__(self):
        return f"MainTrace({self.level}, {self.trace_type.__name__})"


class Trace:
    __slots__ = ("main",)

    def __init__(self, main: MainTrace):
        self.main = main

    def pure(self, val):
        raise NotImplementedError

    def lift(self, tracer):
        raise NotImplementedError

    def process_primitive(self, prim, tracers, params):
        raise NotImplementedError


trace_stack: list[MainTrace] = []
dynamic_trace: MainTrace | None = None


@contextmanager
def new_main(trace_type, global_data=None):
    level = len(trace_stack)
    main = MainTrace(level, trace_type, global_data)
    trace_stack.append(main)
    try:
        yield main
    finally:
        trace_stack.pop()
        main.alive = False


@contextmanager
def new_dynamic(main: MainTrace):
    global dynamic_trace
    prev, dynamic_trace = dynamic_trace, main
    try:
        yield
    finally:
        dynamic_trace = prev


def eager_mode() -> bool:
    """True when no transformation is active (bind can call impls directly)."""
    return len(trace_stack) == 1 and dynamic_trace is None


# --------------------------------------------------------------------------- tracers

from .array_methods import ArrayMethods  # noqa: E402


class Tracer(ArrayMethods):
    """A value flowing through an interpreter. Carries an abstract value."""

    __slots__ = ("_trace", "_origin")
    __array_priority__ = 1000

    @property
    def aval(self):
        raise NotImplementedError

    @property
    def shape(self):
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    @property
    def weak_type(self):
        """Whether this value is weakly typed (from a Python scalar; see ShapedArray)."""
        return self.aval.weak_type

    def full_lower(self):
        return self

    def to_concrete(self, why: str):
        """The concrete value behind this tracer, or a ConcretizationTypeError."""
        raise ConcretizationTypeError(self, why)

    def _concrete(self, why):
        try:
            return self.to_concrete(why)
        except ConcretizationTypeError:
            if not self._trace.main.alive:   # a leaked tracer, not a control-flow problem
                raise UnexpectedTracerError(self) from None
            raise

    def __array__(self, dtype=None, copy=None):
        # never silently hand out the primal value: numpy code would drop the derivative
        if not self._trace.main.alive:
            raise UnexpectedTracerError(self)
        raise ConcretizationTypeError(self, "conversion to a numpy array (np.asarray)")

    def _concrete_scalar(self, why):
        v = np.asarray(self._concrete(why))
        if v.size != 1:
            raise ValueError(f"funtorch: {why} of an array with {v.size} elements is "
                             "ambiguous; reduce it first")
        return v.reshape(())

    def __bool__(self):
        return bool(self._concrete_scalar("bool() (an `if`, `while`, `and`, `or` or `not`)"))

    def __int__(self):
        return int(self._concrete_scalar("int()"))

    def __float__(self):
        return float(self._concrete_scalar("float()"))

    def __index__(self):
        return int(self._concrete_scalar("use as a Python index"))

    def item(self):
        return self._concrete_scalar("item()").item()

    def numpy(self):
        return np.array(self._concrete("numpy()"))

    def __repr__(self):
        return f"Traced<{self.aval.str_short()}>with<{type(self._trace).__name__}>"

    def __hash__(self):
        raise TypeError("funtorch: arrays and tracers are unhashable; mark the argument "
                        "static (static_argnums) if it is a hashable Python value")


def find_top_trace(xs) -> Trace:
    top = trace_stack[0]
    for x in xs:
        if isinstance(x, Tracer):
            m = x._trace.main
            if not m.alive:
                raise UnexpectedTracerError(x)
            if m.level > top.level:
                top = m
    if dynamic_trace is not None and dynamic_trace.level > top.level:
        top = dynamic_trace
    return top.trace_type(top)


def full_raise(trace: Trace, val):
    if not isinstance(val, Tracer):
        return trace.pure(val)
    level = trace.main.level
    vm = val._trace.main
    if vm is trace.main:
        return val
    if not vm.alive:
        raise UnexpectedTracerError(val)
    if vm.level < level:
        return trace.lift(val)
    raise UnexpectedTracerError(val, f"a tracer of level {vm.level} reached a trace of "
                                     f"level {level}")


def full_lower(val):
    if isinstance(val, Tracer):
        return val.full_lower()
    return val


def bind(prim, *args, **params):
    if len(trace_stack) == 1 and dynamic_trace is None:
        outs = _eval_primitive(prim, args, params)
    else:
        top = find_top_trace(args)
        if prim.axis_mains is not None:
            for m in prim.axis_mains(params):
                if m.level > top.main.level:
                    top = m.trace_type(m)
        tracers = [full_raise(top, a) for a in args]
        outs = [full_lower(o) for o in top.process_primitive(prim, tracers, params)]
    return outs if prim.multiple_results else outs[0]


# --------------------------------------------------------------------------- eval interpreter

from .array import Array, host_array, to_numpy  # noqa: E402
from .devices import CPU, adopt  # noqa: E402


def _eval_primitive(prim, args, params):
    """Eager execution: on the backend of the first argument off the host, else here, on
    the host (the CPU backend's eager entry is ``eval_on_host``; calling it directly keeps
    the backend lookup off the hot path)."""
    vals = []
    for a in args:
        t = type(a)
        if t is Array:
            if a._device is not CPU:
                return a._device.backend.eager(prim, args, params)
            vals.append(a._value)
        elif t is np.ndarray:
            vals.append(a)
        elif isinstance(a, Tracer):
            raise UnexpectedTracerError(a)
        elif dtypes.is_weak(a):
            # the dtype ``get_aval`` gives it (float -> float32), as a traced call would
            vals.append(np.asarray(a, dtypes.canonical_python_dtype(a)))
        else:
            vals.append(np.asarray(a))
    return eval_on_host(prim, vals, params)


def host_value(a):
    """The numpy value eager execution on the host gives ``a`` (a host Array, a numpy
    array or a Python scalar, which takes the dtype ``get_aval`` gives it)."""
    if type(a) is Array:
        return to_numpy(a)
    if dtypes.is_weak(a):
        return np.asarray(a, dtypes.canonical_python_dtype(a))
    return np.asarray(a)


def eval_on_host(prim, vals, params):
    """Run ``prim``'s impl on host (numpy) values; the results as host Arrays."""
    impl = impl_rules.get(prim)
    if impl is None:
        raise NotImplementedError(f"funtorch: primitive '{prim}' has no eager impl")
    out = impl(*vals, **params)
    if prim.multiple_results:
        return [Array(o) for o in out]
    return [Array(out)]


class EvalTrace(Trace):
    __slots__ = ()

    def pure(self, val):
        return val

    lift = pure

    def process_primitive(self, prim, tracers, params):
        return _eval_primitive(prim, tracers, params)


trace_stack.append(MainTrace(0, EvalTrace, None))


# --------------------------------------------------------------------------- helpers

def get_aval(x) -> ShapedArray:
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, Array):
        return ShapedArray(x._value.shape, x._value.dtype)
    if dtypes.is_weak(x):
        return ShapedArray((), dtypes.canonical_python_dtype(x))
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapedArray(np.shape(x), x.dtype)
    raise TypeError(f"funtorch: {type(x).__name__} is not a valid array value")


# values converted on the host (no backend is asked to adopt them as a device array)
HOST_TYPES = (np.ndarray, np.generic, list, tuple, bool, int, float, complex)


def as_array(x):
    """``x`` as an array value: Arrays and tracers as they are, another library's device
    array shared through its backend, host values as ``ft.asarray`` converts them."""
    if isinstance(x, (Array, Tracer)):
        return x
    if not isinstance(x, HOST_TYPES):
        adopted = adopt(x)
        if adopted is not None:
            return adopted
    return host_array(x)


def weak_aval(x) -> ShapedArray:
    """The abstract value of a function argument: a Python scalar is weakly typed (JAX's
    rule for arguments of jit, vjp/jvp, control flow and custom_vjp), so
    ``f32_array * n`` stays float32. Tracers keep their own flag."""
    if dtypes.is_weak(x):
        return ShapedArray((), dtypes.canonical_python_dtype(x), True)
    return get_aval(x)


def concrete_or_error(x, why: str):
    """The numpy value of ``x``, or an error explaining that it is traced."""
    if isinstance(x, Tracer):
        return x.to_concrete(why)
    return to_numpy(x)


__all__ = ["Primitive", "bind", "Tracer", "Trace", "MainTrace", "new_main", "new_dynamic",
           "find_top_trace", "full_raise", "full_lower", "get_aval", "weak_aval", "as_array",
           "Array"]
