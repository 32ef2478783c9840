"""JAX-parity audit of transformations, control flow, pytrees and random keys.

Probes the way JAX's own suite does (tests/api_test.py, lax_control_flow_test.py,
random_test.py, tree_util_test.py). Every expected value is hard-coded or computed with
numpy: the random vectors were printed by JAX 0.10.2 (default 32-bit mode) and the
Jacobian tree layouts are the ones JAX returns. funtorch's default integer is int64 where
JAX's 32-bit mode gives int32; that documented difference is not tested as a failure.
"""
