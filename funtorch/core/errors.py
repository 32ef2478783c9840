"""Errors with messages that say what went wrong and how to fix it."""

from __future__ import annotations

import traceback


def _user_frame():
    """The innermost stack frame outside funtorch, for 'traced at file:line'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/funtorch/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


class ConcretizationTypeError(TypeError):
    """A traced value was used where a concrete Python value is needed."""

    def __init__(self, tracer, why: str):
        origin = getattr(tracer, "_origin", None) or "an argument of a transformed function"
        super().__init__(
            f"funtorch: {why} needs a concrete value, but got an abstract tracer of "
            f"{tracer.aval.str_short()} (traced from {origin}; used at {_user_frame()}).\n"
            "Python control flow (if/while/bool/int/float) cannot depend on a traced value. "
            "Use ft.cond / ft.where / ft.while_loop for value-dependent control flow, or mark "
            "the argument static with jit(f, static_argnums=...) / static_argnames.")


class UnexpectedTracerError(RuntimeError):
    """A tracer escaped the transformation that created it."""

    def __init__(self, tracer, detail: str = ""):
        super().__init__(
            "funtorch: an intermediate value from a finished transformation (grad/vmap/jit) "
            f"was used outside it: a leaked tracer of {tracer.aval.str_short()}. "
            "This happens when a transformed function stores a traced value in a global, an "
            "attribute or a closure that outlives the call. Return it as an output instead."
            + (f" ({detail})" if detail else ""))
