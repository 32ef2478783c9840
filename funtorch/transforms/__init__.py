"""Transformations of functions: jvp/vjp/grad (ad), vmap (batching), jit."""
