"""Known-wrong linear attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _elu_plus_one(x):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def _relu(x):
    return np.maximum(x, 0.0)


def _linear(Q, K, V, causal, phi=_elu_plus_one, normalise=True, exclusive=False):
    phi_q, phi_k = phi(Q), phi(K)
    if causal:
        S = np.cumsum(phi_k[..., :, :, None] * V[..., :, None, :], axis=-3)
        z = np.cumsum(phi_k, axis=-2)
        if exclusive:
            S = S - phi_k[..., :, :, None] * V[..., :, None, :]  # j < i: the query's own
            z = z - phi_k  # key and value are left out
        numerator = (phi_q[..., :, :, None] * S).sum(axis=-2)
        denominator = (phi_q * z).sum(axis=-1, keepdims=True)
    else:
        numerator = phi_q @ (np.swapaxes(phi_k, -1, -2) @ V)
        denominator = (phi_q * phi_k.sum(axis=-2)[..., None, :]).sum(axis=-1, keepdims=True)
    if not normalise:
        return numerator
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def no_normaliser(Q, K, V, causal=False):
    return _linear(Q, K, V, causal, normalise=False)


def relu_feature_map(Q, K, V, causal=False):
    return _linear(Q, K, V, causal, phi=_relu)


def exclusive_causal_sums(Q, K, V, causal=False):
    return _linear(Q, K, V, causal, exclusive=True)


def softmax_attention(Q, K, V, causal=False):
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if causal:
        n = Q.shape[-2]
        scores = np.where(np.tril(np.ones((n, n), dtype=bool)), scores, -np.inf)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True) @ V


def ignores_causal(Q, K, V, causal=False):
    return _linear(Q, K, V, False)


def transpose_all_axes(Q, K, V, causal=False):
    if causal:
        return _linear(Q, K, V, causal)
    phi_q, phi_k = _elu_plus_one(Q), _elu_plus_one(K)
    numerator = phi_q @ (phi_k.T @ V)  # .T reverses every axis
    denominator = phi_q @ phi_k.sum(axis=-2)[..., None]
    return numerator / denominator


def feature_map_in_place(Q, K, V, causal=False):
    for X in (Q, K):  # elu(x) + 1 written into the caller's arrays
        negative = X <= 0
        X[negative] = np.expm1(X[negative])
        X += 1.0
    return _linear(Q, K, V, causal, phi=lambda x: x)
