"""Known-wrong LayerNorm variants; each is named in layer-norm.yaml with its misconception."""

import numpy as np


def _affine(x_hat, gamma, beta):
    return x_hat * gamma + beta


def unbiased_variance(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, ddof=1, keepdims=True)  # divides by d - 1
    return _affine((x - mean) / np.sqrt(var + eps), gamma, beta)


def eps_outside_root(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return _affine((x - mean) / (std + eps), gamma, beta)


def no_affine(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=-1, keepdims=True) + eps)


def first_axis(x, gamma, beta, eps=1e-5):
    # statistics over the rows (like BatchNorm over the batch) instead of each row's features
    mean = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    return _affine((x - mean) / np.sqrt(var + eps), gamma, beta)


def axis_one(x, gamma, beta, eps=1e-5):
    # right for (n, d), wrong as soon as there is a batch axis in front
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return _affine((x - mean) / np.sqrt(var + eps), gamma, beta)


def in_place(x, gamma, beta, eps=1e-5):
    x -= x.mean(axis=-1, keepdims=True)
    x /= np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)
    return _affine(x, gamma, beta)
