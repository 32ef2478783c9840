"""conv1d and conv2d (cross-correlation) and conv_transpose2d on lax.conv_general_dilated."""

from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ._checks import _arr, _check_positive, _check_rank, _tuple


def _conv_padding(name, padding, kernel, dilation, stride):
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * len(kernel)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"funtorch.nn.functional.{name}: padding='same' is not "
                                 "supported for strided convolutions (as in PyTorch)")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return pads
        raise ValueError(f"funtorch.nn.functional.{name}: padding must be an int, a tuple, "
                         f"'same' or 'valid', got {padding!r}")
    return [(p, p) for p in _tuple(name, "padding", padding, len(kernel))]


def _conv(name, n, input, weight, bias, stride, padding, dilation, groups):
    x, w = _arr(input), _arr(weight)
    spatial = "L" if n == 1 else "HW"
    layout = f"N,C,{','.join(spatial)}"
    _check_rank(name, x, (n + 1, n + 2), f"[{layout}] or unbatched [C,{','.join(spatial)}]")
    if w.ndim != n + 2:
        raise ValueError(f"funtorch.nn.functional.{name}: weight must be {n + 2}-D "
                         f"[out_channels, in_channels/groups, {', '.join(spatial)}], got shape "
                         f"{tuple(w.shape)}")
    unbatched = x.ndim == n + 1
    if unbatched:
        x = fnp.expand_dims(x, 0)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"funtorch.nn.functional.{name}: groups must be a positive int, got "
                         f"{groups!r}")
    if w.shape[0] % groups:
        raise ValueError(f"funtorch.nn.functional.{name}: out_channels {w.shape[0]} of weight "
                         f"{tuple(w.shape)} is not divisible by groups={groups}")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"funtorch.nn.functional.{name}: input of shape {tuple(x.shape)} has "
                         f"{x.shape[1]} channels, but weight {tuple(w.shape)} with groups="
                         f"{groups} expects {w.shape[1] * groups}")
    stride = _tuple(name, "stride", stride, n)
    dilation = _tuple(name, "dilation", dilation, n)
    _check_positive(name, "stride", stride)
    _check_positive(name, "dilation", dilation)
    if not isinstance(padding, str):
        _check_positive(name, "padding", _tuple(name, "padding", padding, n), minimum=0)
    pads = _conv_padding(name, padding, w.shape[2:], dilation, stride)
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(x.shape[2:], pads))
    kernel = tuple((k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation))
    if any(p < k for p, k in zip(padded, kernel)):
        dil = f" (dilation {dilation})" if any(d != 1 for d in dilation) else ""
        raise ValueError(f"funtorch.nn.functional.{name}: calculated padded input size per "
                         f"channel: ({' x '.join(map(str, padded))}). Kernel size{dil}: "
                         f"({' x '.join(map(str, kernel))}). Kernel size can't be greater than "
                         f"the actual input size: pad the input (padding=) or use a smaller "
                         f"kernel (input {tuple(x.shape)}, weight {tuple(w.shape)})")
    if bias is not None and tuple(np.shape(bias)) != (w.shape[0],):
        raise ValueError(f"funtorch.nn.functional.{name}: given weight of shape "
                         f"{tuple(w.shape)}, expected bias to be 1-D with {w.shape[0]} "
                         f"elements (out_channels), got shape {tuple(np.shape(bias))}")
    y = lax.conv_general_dilated(x, w, window_strides=stride, padding=pads,
                                 rhs_dilation=dilation, feature_group_count=groups)
    if bias is not None:
        y = y + fnp.reshape(_arr(bias), (-1,) + (1,) * n)
    return y[0] if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as in PyTorch) of [N, C, L] with [O, C/groups, K]."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of NCHW input with an OIHW weight."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 2-D convolution (the gradient of ``conv2d`` with respect to its input) of
    NCHW input with PyTorch's weight layout ``[in_channels, out_channels/groups, kH, kW]``.

    Output size per axis: ``(size - 1) * stride - 2 * padding + dilation * (k - 1) +
    output_padding + 1``. Computed as a convolution of the input dilated by ``stride``
    with the spatially flipped, in/out-swapped kernel."""
    name = "conv_transpose2d"
    x, w = _arr(input), _arr(weight)
    _check_rank(name, x, (3, 4), "[N,C,H,W] or unbatched [C,H,W]")
    if w.ndim != 4:
        raise ValueError(f"funtorch.nn.functional.{name}: weight must be 4-D [in_channels, "
                         f"out_channels/groups, kH, kW], got shape {tuple(w.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"funtorch.nn.functional.{name}: groups must be a positive int, got "
                         f"{groups!r}")
    unbatched = x.ndim == 3
    if unbatched:
        x = fnp.expand_dims(x, 0)
    cin, cout_g, kh, kw = w.shape
    if cin % groups:
        raise ValueError(f"funtorch.nn.functional.{name}: in_channels {cin} of weight "
                         f"{tuple(w.shape)} is not divisible by groups={groups}")
    if x.shape[1] != cin:
        raise ValueError(f"funtorch.nn.functional.{name}: input of shape {tuple(x.shape)} has "
                         f"{x.shape[1]} channels, but weight {tuple(w.shape)} (layout [in, "
                         f"out/groups, kH, kW]) expects {cin}")
    stride = _tuple(name, "stride", stride, 2)
    dilation = _tuple(name, "dilation", dilation, 2)
    padding = _tuple(name, "padding", padding, 2)
    output_padding = _tuple(name, "output_padding", output_padding, 2)
    _check_positive(name, "stride", stride)
    _check_positive(name, "dilation", dilation)
    _check_positive(name, "padding", padding, minimum=0)
    _check_positive(name, "output_padding", output_padding, minimum=0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"funtorch.nn.functional.{name}: output_padding {output_padding} "
                             f"must be smaller than either stride {stride} or dilation "
                             f"{dilation}")
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1
           for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, (kh, kw),
                                        output_padding)]
    if any(o < 1 for o in out):
        raise ValueError(f"funtorch.nn.functional.{name}: input {tuple(x.shape)} with weight "
                         f"{tuple(w.shape)}, stride {stride}, padding {padding} gives an empty "
                         f"output {tuple(out)}; reduce the padding")
    cout = cout_g * groups
    if bias is not None and tuple(np.shape(bias)) != (cout,):
        raise ValueError(f"funtorch.nn.functional.{name}: given weight of shape "
                         f"{tuple(w.shape)} and groups={groups}, expected bias to be 1-D with "
                         f"{cout} elements (out_channels), got shape {tuple(np.shape(bias))}")
    # [in, out/g, kh, kw] -> [out, in/g, kh, kw], flipped in space
    wt = fnp.reshape(w, (groups, cin // groups, cout_g, kh, kw))
    wt = fnp.reshape(fnp.transpose(wt, (0, 2, 1, 3, 4)), (cout, cin // groups, kh, kw))
    wt = lax.rev(wt, (2, 3))
    pads = [(d * (k - 1) - p, d * (k - 1) - p + op)
            for k, p, d, op in zip((kh, kw), padding, dilation, output_padding)]
    y = lax.conv_general_dilated(x, wt, window_strides=(1, 1), padding=pads,
                                 lhs_dilation=stride, rhs_dilation=dilation,
                                 feature_group_count=groups)
    if bias is not None:
        y = y + fnp.reshape(_arr(bias), (-1, 1, 1))
    return y[0] if unbatched else y
