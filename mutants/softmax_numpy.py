"""Known-wrong softmax variants; each is named in softmax.yaml with its misconception."""

import numpy as np


def naive(x, axis=-1):
    with np.errstate(over="ignore", invalid="ignore"):
        exps = np.exp(x)
        return exps / np.sum(exps, axis=axis, keepdims=True)


def fixed_axis_zero(x, axis=-1):
    shifted = x - np.max(x, axis=0, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=0, keepdims=True)


def global_sum(x, axis=-1):
    exps = np.exp(x - np.max(x))
    return exps / exps.sum()


def global_max(x, axis=-1):
    # One maximum for the whole array: a slice far below it underflows to 0/0.
    with np.errstate(under="ignore", invalid="ignore"):
        exps = np.exp(x - np.max(x))
        return exps / exps.sum(axis=axis, keepdims=True)


def in_place(x, axis=-1):
    x -= np.max(x, axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= np.sum(x, axis=axis, keepdims=True)
    return x


def no_keepdims(x, axis=-1):
    # The reduced axis is dropped: (n, m) - (n,) no longer lines up.
    exps = np.exp(x - np.max(x, axis=axis))
    return exps / np.sum(exps, axis=axis)


def sum_over_axis_zero(x, axis=-1):
    # The maximum over the right axis, the sum over a hard-coded one.
    exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return exps / np.sum(exps, axis=0, keepdims=True)
