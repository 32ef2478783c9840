"""The classic SimpleNet(10, 5, 2), written functionally.

A Module subclass assigns submodules in ``__init__`` (their names become parameter
keys, as in PyTorch's state_dict) and defines a pure ``__call__(params, x)``.
"""

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F


class SimpleNet(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def __call__(self, params, x):
        x = F.relu(self.fc1(params["fc1"], x))
        return self.fc2(params["fc2"], x)


def main():
    model = SimpleNet(10, 5, 2)
    print(model)
    key, data_key = ft.random.split(ft.random.key(0))
    params = model.init(key)
    print({k: {n: v.shape for n, v in p.items()} for k, p in params.items()})

    x = ft.random.normal(data_key, (8, 10))
    y = ft.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    optimizer = ft.optim.sgd(0.1, momentum=0.9)
    opt_state = optimizer.init(params)

    @ft.jit
    def step(params, opt_state, x, y):
        loss, grads = ft.value_and_grad(lambda p: F.cross_entropy(model(p, x), y))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return ft.optim.apply_updates(params, updates), opt_state, loss

    for i in range(5):
        params, opt_state, loss = step(params, opt_state, x, y)
        print(f"step {i}: loss {float(loss):.4f}")
    print(ft.make_graph(lambda p: F.cross_entropy(model(p, x), y))(params))


if __name__ == "__main__":
    main()
