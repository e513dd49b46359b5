"""Known-wrong attention backward passes (NumPy); each is tagged in the YAML."""

import numpy as np


def _forward(Q, K):
    scale = 1.0 / np.sqrt(Q.shape[-1])
    scores = Q @ np.swapaxes(K, -1, -2) * scale
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True), scale


def _backward(Q, K, V, dO, softmax_grad, grad_scale=True, dv=None):
    P, scale = _forward(Q, K)
    dV = np.swapaxes(P, -1, -2) @ dO if dv is None else dv(P, dO)
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = softmax_grad(P, dP)
    factor = scale if grad_scale else 1.0
    return dS @ K * factor, np.swapaxes(dS, -1, -2) @ Q * factor, dV


def _right(P, dP):
    return P * (dP - (dP * P).sum(axis=-1, keepdims=True))


def no_row_sum_term(Q, K, V, dO):
    return _backward(Q, K, V, dO, lambda P, dP: P * dP)


def row_sum_sign_flipped(Q, K, V, dO):
    return _backward(Q, K, V, dO, lambda P, dP: P * (dP + (dP * P).sum(axis=-1, keepdims=True)))


def jacobian_diagonal_only(Q, K, V, dO):
    # Only ∂P_j/∂S_j = P_j (1 - P_j): the off-diagonal -P_j P_k terms are dropped.
    return _backward(Q, K, V, dO, lambda P, dP: P * (1.0 - P) * dP)


def no_scale_in_gradients(Q, K, V, dO):
    return _backward(Q, K, V, dO, _right, grad_scale=False)


def dv_without_transpose(Q, K, V, dO):
    # P dO instead of Pᵀ dO (the shapes agree only when n = m).
    return _backward(Q, K, V, dO, _right, dv=lambda P, dO: P @ dO)


def transpose_all_axes(Q, K, V, dO):
    scale = 1.0 / np.sqrt(Q.shape[-1])
    scores = Q @ K.T * scale  # .T reverses every axis
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    P = exps / exps.sum(axis=-1, keepdims=True)
    dP = dO @ V.T
    dS = _right(P, dP)
    return dS @ K * scale, dS.T @ Q * scale, P.T @ dO


def scales_query_in_place(Q, K, V, dO):
    scale = 1.0 / np.sqrt(Q.shape[-1])
    Q *= scale  # changes the caller's array (the gradients themselves come out right)
    scores = Q @ np.swapaxes(K, -1, -2)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    P = exps / exps.sum(axis=-1, keepdims=True)
    dS = _right(P, dO @ np.swapaxes(V, -1, -2))
    return dS @ K * scale, np.swapaxes(dS, -1, -2) @ Q, np.swapaxes(P, -1, -2) @ dO
