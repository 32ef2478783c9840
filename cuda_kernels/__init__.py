"""Hand-written CUDA kernels for funtorch, in plain numba-cuda (this package never imports
funtorch). See README.md; modules are imported on demand so that importing the package does
not initialise CUDA."""
