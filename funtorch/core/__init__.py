"""The core: arrays, dtypes, primitives and the interpreter stack, the IR."""
