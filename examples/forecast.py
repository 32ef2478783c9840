"""Forecast the weekly Mauna Loa CO2 record 12 weeks ahead with an LSTM on windows.

    python examples/forecast.py                        # LSTM vs seasonal-naive on the last 4 years
    python examples/forecast.py --plot forecast.png    # history, forecasts and truth
    python examples/forecast.py --epochs 1 --save ckpt.safetensors   # then --resume ckpt...

Each example is a window of ``--input-len`` weeks and the ``--horizon`` weeks after it. The
series is split by time: the last ``--test-years`` are the test span, the
``--valid-years`` before them validation, the rest training; a test window may read weeks
before the test span but forecasts only weeks inside it. Windows are made level-free by
subtracting the last input week (the model forecasts the change from now, so the rising
trend needs no extrapolation of levels). The baseline is seasonal-naive: the same week last
year plus the trend, the difference between the mean of the last 52 input weeks and the
52 before. Errors count only measured weeks (``observed``); gaps are interpolated inputs.
"""

from __future__ import annotations

import argparse

import numpy as np
from training import fit, plot_curves, resume_from

import funtorch as ft
import funtorch.nn as nn
import funtorch.nn.functional as F

YEAR = 52
SCALE = 2.0  # ppm; changes over a few months are a few ppm


class Forecaster(nn.Module):
    """LSTM over the window's changes (and the week of the year), a linear head to the
    horizon's changes."""

    def __init__(self, hidden, horizon):
        super().__init__()
        self.lstm = nn.LSTM(3, hidden, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def __call__(self, params, x):
        out, _ = self.lstm(params["lstm"], x)
        return self.head(params["head"], out[:, -1])


def features(inputs, season):
    """[N, L] levels and [N, L] fractions of the year -> [N, L, 3]: the change from the
    last week, and the season as sin/cos."""
    change = (inputs - inputs[:, -1:]) / SCALE
    angle = 2 * np.pi * season
    return np.stack([change, np.sin(angle), np.cos(angle)], -1).astype(np.float32)


def make_windows(values, observed, season, input_len, horizon):
    x, y = ft.data.windows(values, input_len, horizon)
    _, mask = ft.data.windows(observed, input_len, horizon)
    wx, _ = ft.data.windows(season, input_len, horizon)
    return {"x": features(x, wx), "last": x[:, -1], "y": y, "mask": mask,
            "naive": seasonal_naive(x, horizon)}


def seasonal_naive(inputs, horizon):
    """Same week last year plus the trend (the last year's mean minus the year before's)."""
    trend = inputs[:, -YEAR:].mean(1) - inputs[:, -2 * YEAR:-YEAR].mean(1)
    last_year = inputs[:, -YEAR:-YEAR + horizon] if horizon < YEAR else None
    return last_year + trend[:, None]


def errors(pred, truth, mask):
    e = (pred - truth)[mask]
    return float(np.abs(e).mean()), float(np.sqrt((e ** 2).mean()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input-len", type=int, default=2 * YEAR, help="weeks of history (>= 104)")
    p.add_argument("--horizon", type=int, default=12)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--test-years", type=int, default=4)
    p.add_argument("--valid-years", type=int, default=2)
    p.add_argument("--limit", type=int, default=None,
                   help="use only the last N training windows (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="checkpoint path (.safetensors)")
    p.add_argument("--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--plot", default=None, help="write history/forecast/truth to this PNG")
    p.add_argument("--curves", default=None, help="write training curves to this PNG")
    args = p.parse_args(argv)
    if args.input_len < 2 * YEAR:
        p.error(f"--input-len must be at least {2 * YEAR} weeks (two years) for the "
                f"seasonal-naive baseline's trend")
    if not 0 < args.horizon < YEAR:
        p.error(f"--horizon must be between 1 and {YEAR - 1} weeks")

    dates, values, observed = ft.data.co2()
    season = (dates - dates.astype("datetime64[Y]")).astype(np.float32) / 365.25
    print(f"data: weekly Mauna Loa CO2, {len(values)} weeks {dates[0]} to {dates[-1]}, "
          f"{(~observed).sum()} interpolated")
    try:
        spans = [ft.data.split_by_time(a, valid=args.valid_years * YEAR,
                                       test=args.test_years * YEAR, context=args.input_len)
                 for a in (values, observed, season)]
        split = {name: make_windows(*(s[i] for s in spans), args.input_len, args.horizon)
                 for i, name in enumerate(("train", "valid", "test"))}
    except ValueError as e:  # a split shorter than one window
        p.error(f"{e}; use a shorter --input-len or --horizon, or other --test-years / "
                f"--valid-years")
    if args.limit:
        split["train"] = {k: v[-args.limit:] for k, v in split["train"].items()}
    test_start = dates[len(values) - args.test_years * YEAR]
    counts = ", ".join(f"{k} {len(v['y'])}" for k, v in split.items())
    print(f"windows: {counts} "
          f"(test targets from {test_start}); input {args.input_len} weeks, horizon "
          f"{args.horizon}")

    model = Forecaster(args.hidden, args.horizon)
    optimizer = ft.optim.adam(args.lr)
    init_key, data_key = ft.random.split(ft.random.key(args.seed))
    params = model.init(init_key)
    state, start = {"params": params, "opt_state": optimizer.init(params)}, 0
    if args.resume:
        state, start = resume_from(args.resume, state)

    @ft.jit
    def update(params, opt_state, x, y):
        loss, grads = ft.value_and_grad(lambda p: F.mse_loss(model(p, x), y))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return ft.optim.apply_updates(params, updates), opt_state, loss

    @ft.jit
    def predict_changes(params, x):
        return model(params, x)

    def forecast(params, w):
        out = [np.asarray(predict_changes(params, ft.asarray(w["x"][i:i + 512])))
               for i in range(0, len(w["x"]), 512)]
        return w["last"][:, None] + SCALE * np.concatenate(out)

    def step(state, batch):
        x, last, y = batch
        target = ft.asarray(((y - last[:, None]) / SCALE).astype(np.float32))
        params, opt_state, loss = update(state["params"], state["opt_state"], ft.asarray(x),
                                         target)
        return {"params": params, "opt_state": opt_state}, {"loss": loss}

    tr = split["train"]

    def batches(epoch):
        return ft.data.batches(tr["x"], tr["last"], tr["y"], batch_size=args.batch_size,
                               key=ft.random.fold_in(data_key, epoch))

    def evaluate(state):
        v = split["valid"]
        mae, rmse = errors(forecast(state["params"], v), v["y"], v["mask"])
        return {"valid MAE": mae, "valid RMSE": rmse}

    state, history = fit(state, step, batches, epochs=args.epochs, start=start,
                         evaluate=evaluate, checkpoint=args.save, unit="windows")

    te = split["test"]
    pred = forecast(state["params"], te)
    rows = {"LSTM": errors(pred, te["y"], te["mask"]),
            "seasonal-naive": errors(te["naive"], te["y"], te["mask"])}
    print(f"test ({args.test_years} years, {len(te['y'])} windows x {args.horizon} weeks, "
          f"measured weeks only):")
    for name, (mae, rmse) in rows.items():
        print(f"  {name:<15} MAE {mae:.3f} ppm  RMSE {rmse:.3f} ppm")
    better = rows["LSTM"][0] < rows["seasonal-naive"][0]
    print(f"LSTM {'beats' if better else 'does not beat'} seasonal-naive on MAE "
          f"({rows['LSTM'][0]:.3f} vs {rows['seasonal-naive'][0]:.3f})")
    if args.save:
        print(f"checkpoint: {args.save}")
    if args.curves:
        plot_curves(args.curves, history, ["valid MAE"])
    if args.plot:
        plot_forecast(args.plot, dates, values, observed, te, pred, args)
    return rows


def plot_forecast(path, dates, values, observed, te, pred, args):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping --plot (pip install matplotlib)")
        return
    n_test = args.test_years * YEAR
    first = len(values) - n_test  # index of the first test week
    shown = slice(first - 2 * YEAR, len(values))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(dates[shown], values[shown], color="0.6", lw=1, label="history / truth")
    ax.plot(dates[shown][observed[shown] == 0], values[shown][observed[shown] == 0], "x",
            color="0.3", ms=4, label="interpolated week")
    # every horizon-th test window: consecutive, non-overlapping forecasts
    for j, i in enumerate(range(0, len(pred), args.horizon)):
        t = dates[first + i: first + i + args.horizon]
        ax.plot(t, pred[i, :len(t)], color="C0", lw=1.6, label="LSTM" if j == 0 else None)
        ax.plot(t, te["naive"][i, :len(t)], color="C1", lw=1, ls="--",
                label="seasonal-naive" if j == 0 else None)
    ax.axvline(dates[first], color="k", lw=0.8, ls=":")
    ax.set_ylabel("CO2 (ppm)")
    ax.set_title(f"Mauna Loa CO2: {args.horizon}-week forecasts over the test years")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"saved forecast plot to {path}")


if __name__ == "__main__":
    main()
