"""Known-wrong RMSNorm variants; each is named in rms-norm.yaml with its misconception."""

import numpy as np


def _mean_square(x):
    return (x * x).mean(axis=-1, keepdims=True)


def subtracts_mean(x, weight, eps=1e-6):
    centred = x - x.mean(axis=-1, keepdims=True)  # LayerNorm's centring, not RMSNorm's
    return centred / np.sqrt(_mean_square(centred) + eps) * weight


def eps_outside_root(x, weight, eps=1e-6):
    return x / (np.sqrt(_mean_square(x)) + eps) * weight


def no_weight(x, weight, eps=1e-6):
    return x / np.sqrt(_mean_square(x) + eps)


def l2_norm(x, weight, eps=1e-6):
    # the Euclidean norm sums the squares: it is √d times the root mean square
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True) + eps) * weight


def one_plus_weight(x, weight, eps=1e-6):
    # Gemma stores weight - 1 and multiplies by (1 + weight); here weight is the scale itself
    return x / np.sqrt(_mean_square(x) + eps) * (1.0 + weight)


def axis_one(x, weight, eps=1e-6):
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * weight


def in_place(x, weight, eps=1e-6):
    x /= np.sqrt(_mean_square(x) + eps)
    x *= weight
    return x
