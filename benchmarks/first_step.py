"""First step (trace + compile) of the jitted MNIST MLP training step.

    d=$(mktemp -d); FUNTORCH_CACHE_DIR=$d python benchmarks/first_step.py   # cold
    FUNTORCH_CACHE_DIR=$d python benchmarks/first_step.py                   # warm
"""

import time

import numpy as np

t0 = time.perf_counter()
import funtorch as ft  # noqa: E402
import funtorch.nn as nn  # noqa: E402
import funtorch.nn.functional as F  # noqa: E402

t_import = time.perf_counter() - t0
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                      nn.ReLU(), nn.Linear(512, 10))
opt = ft.optim.adam(1e-3)
params = model.init(ft.random.key(0))
state = opt.init(params)


def step(p, s, x, y):
    loss, g = ft.value_and_grad(lambda p: F.cross_entropy(model(p, x), y))(p)
    u, s = opt.update(g, s, p)
    return ft.optim.apply_updates(p, u), s, loss


step = ft.jit(step, donate_argnums=(0, 1))
x = ft.asarray(np.random.rand(128, 1, 28, 28).astype(np.float32))
y = ft.asarray(np.random.randint(0, 10, 128))
t0 = time.perf_counter()
params, state, loss = step(params, state, x, y)
float(loss)
print(f"first step {time.perf_counter() - t0:.2f} s (import {t_import:.2f} s)")
