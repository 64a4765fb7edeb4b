"""Convolutional projections without per-synapse storage: a source's targets and weights,
derived at delivery time from its position (channel, row, column) and its projection's
descriptor (a row of ``NetworkArrays.conv``, columns below).

The targets of one source in one convolution form a small lattice: for every output channel of
its group, the output rows its kernel rows reach (evenly spaced) times the output columns its
kernel columns reach. :func:`conv_window` returns that lattice as start, step and count per axis,
for targets and for kernel weights alike, so that every consumer walks it with three plain
loops, targets in increasing order (as the per-synapse table lists them).

Descriptor rows are sorted by source layer, then by target layer; ``conv_start[g]`` is the first
row of source group ``g`` (the layer index, or the number of layers for the input).
"""

from __future__ import annotations

import numba as nb
import numpy as np

# columns of a descriptor row (NetworkArrays.conv)
SOURCE_FIRST = 0    # global index of the source layer's first source
TARGET_FIRST = 1    # global index of the target layer's first neuron
IN_CHANNELS = 2
IN_HEIGHT = 3
IN_WIDTH = 4
OUT_CHANNELS = 5
OUT_HEIGHT = 6
OUT_WIDTH = 7
KERNEL_HEIGHT = 8
KERNEL_WIDTH = 9
STRIDE_Y = 10
STRIDE_X = 11
PAD_Y = 12
PAD_X = 13
DILATION_Y = 14
DILATION_X = 15
GROUPS = 16
DELAY = 17          # timesteps, recurrent delay included (0: immediate)
WEIGHT_START = 18   # first kernel weight in NetworkArrays.conv_weights (see kernel_layout)
ROW_TABLE = 19      # first row of NetworkArrays.conv_axes for the input rows (then columns)
N_CONV_COLUMNS = 20
# columns of NetworkArrays.conv_axes: along one axis, for each input coordinate, the kernel
# offsets through which it reaches an output, largest first (outputs in increasing order)
FIRST_OFFSET, OFFSET_STEP, REACH_COUNT, FIRST_OUTPUT, OUTPUT_STEP = range(5)
N_AXIS_COLUMNS = 5


def kernel_layout(weight: np.ndarray, groups: int) -> np.ndarray:
    """A convolution's weights ``(out channels, in channels / groups, rows, columns)`` in the
    order the kernel reads them: ``(in channels, rows, columns, out channels of the group)``,
    so that the weights of one source form one contiguous block (a source's deliveries then
    read a few cache lines in order rather than one line per output channel)."""
    c_out, per_group, kh, kw = weight.shape
    blocks = weight.reshape(groups, c_out // groups, per_group, kh, kw)
    return np.ascontiguousarray(blocks.transpose(0, 2, 3, 4, 1)).ravel()


def weight_layout(flat: np.ndarray, shape: tuple[int, int, int, int], groups: int
                  ) -> np.ndarray:
    """The inverse of :func:`kernel_layout`: values in kernel order back to ``shape``."""
    c_out, per_group, kh, kw = shape
    blocks = np.asarray(flat).reshape(groups, per_group, kh, kw, c_out // groups)
    return np.ascontiguousarray(blocks.transpose(0, 4, 1, 2, 3)).reshape(shape)


def axis_table(n_in: int, n_out: int, k: int, stride: int, pad: int, dilation: int
               ) -> np.ndarray:
    """(n_in, N_AXIS_COLUMNS) int64: for input coordinate ``i``, the kernel offsets ``a``
    through which it reaches output ``o = (i + pad - a * dilation) / stride`` (a whole number
    in ``0 .. n_out - 1``), largest first: first offset, offset step down, count, first output,
    output step up. They are evenly spaced (the divisible ones are), and so are the outputs."""
    table = np.zeros((n_in, N_AXIS_COLUMNS), dtype=np.int64)
    table[:, OFFSET_STEP] = table[:, OUTPUT_STEP] = 1
    for i in range(n_in):
        reach = i + pad - np.arange(k - 1, -1, -1) * dilation
        offsets = np.arange(k - 1, -1, -1)[(reach >= 0) & (reach % stride == 0)
                                           & (reach // stride < n_out)]
        if offsets.shape[0] == 0:
            continue
        step = int(offsets[0] - offsets[1]) if offsets.shape[0] > 1 else 1
        table[i] = (offsets[0], step, offsets.shape[0],
                    (i + pad - offsets[0] * dilation) // stride, step * dilation // stride)
    return table


@nb.njit(cache=True, _nrt=False, inline="always")
def conv_window(net, p, src):
    """The targets of source ``src`` in convolution ``p`` (a row of ``net.conv``), in
    increasing order: for ``k < n_co``, ``m < ny``, ``q < nx``, target
    ``t0 + k * t_co + m * t_y + q * t_x`` with weight ``w0 + k * w_co - m * w_y - q * w_x`` (an
    index into ``conv_weights``). Returns ``(t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny,
    nx)``; no targets: a count of 0. Per-axis reach comes from a table (``net.conv_axes``),
    not from a loop over the kernel: a source of a strided convolution may reach only a few
    targets, and this is paid once per source."""
    conv, axes = net.conv, net.conv_axes
    local = src - conv[p, SOURCE_FIRST]
    height, width = conv[p, IN_HEIGHT], conv[p, IN_WIDTH]
    channel = local // (height * width)
    iy = (local - channel * height * width) // width
    ix = local - (channel * height + iy) * width
    row = conv[p, ROW_TABLE] + iy
    col = conv[p, ROW_TABLE] + height + ix
    kh, kw = conv[p, KERNEL_HEIGHT], conv[p, KERNEL_WIDTH]
    oh, ow = conv[p, OUT_HEIGHT], conv[p, OUT_WIDTH]
    groups = conv[p, GROUPS]
    out_per_group = conv[p, OUT_CHANNELS] // groups
    group = channel // (conv[p, IN_CHANNELS] // groups)
    a0, b0 = axes[row, FIRST_OFFSET], axes[col, FIRST_OFFSET]
    t0 = conv[p, TARGET_FIRST] + (group * out_per_group * oh + axes[row, FIRST_OUTPUT]) * ow \
        + axes[col, FIRST_OUTPUT]
    # kernel layout (input channel, row, column, output channel of the group): one source's
    # weights are one contiguous block
    w0 = conv[p, WEIGHT_START] + ((channel * kh + a0) * kw + b0) * out_per_group
    return (t0, oh * ow, axes[row, OUTPUT_STEP] * ow, axes[col, OUTPUT_STEP], w0, 1,
            axes[row, OFFSET_STEP] * kw * out_per_group, axes[col, OFFSET_STEP] * out_per_group,
            out_per_group, axes[row, REACH_COUNT], axes[col, REACH_COUNT])


@nb.njit(cache=True, _nrt=False, inline="always")
def conv_rows(src, net):
    """The descriptor rows ``start, end`` of the convolutions ``src`` feeds (none without
    convolutions)."""
    if not net.has_conv:
        return 0, 0
    n_neurons = net.layer_of.shape[0]
    group = net.layer_of[src] if src < n_neurons else net.conv_start.shape[0] - 2
    return net.conv_start[group], net.conv_start[group + 1]


@nb.njit(cache=True, _nrt=False, inline="always")
def conv_immediate_fanout(src, net):
    """Targets ``src`` reaches through convolutions without delay."""
    total = 0
    start, end = conv_rows(src, net)
    for p in range(start, end):
        if net.conv[p, DELAY] == 0:
            window = conv_window(net, p, src)
            total += window[8] * window[9] * window[10]
    return total


@nb.njit(cache=True, _nrt=False, inline="always")
def immediate_fanout(src, net):
    """Synapses of ``src`` without delay: per-synapse rows and convolutions."""
    return net.fanout_start[src + 1] - net.fanout_start[src] + conv_immediate_fanout(src, net)


@nb.njit(cache=True, _nrt=False, inline="always")
def add_conv_currents(net, p, src, amplitude, into):
    """Add the currents of source ``src`` through convolution ``p`` (weights times
    ``amplitude``) to ``into`` (indexed by neuron), target by target in increasing order;
    returns how many targets they reach."""
    t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny, nx = conv_window(net, p, src)
    for k in range(n_co):
        for m in range(ny):
            tgt = t0 + k * t_co + m * t_y
            w = w0 + k * w_co - m * w_y
            for _ in range(nx):
                into[tgt] += net.conv_weights[w] * amplitude
                tgt += t_x
                w -= w_x
    return n_co * ny * nx
