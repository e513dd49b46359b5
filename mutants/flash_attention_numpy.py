"""Known-wrong streaming attention variants (NumPy); each is tagged in the YAML."""

import numpy as np


def _scores(Q, K_j):
    return Q @ np.swapaxes(K_j, -1, -2) / np.sqrt(Q.shape[-1])


def no_rescale(Q, kv_blocks):
    # The running max is updated, but the sums built with the old one are not rescaled.
    m = np.full((*Q.shape[:-1], 1), -np.inf)
    l, acc = 0.0, 0.0
    for K_j, V_j in kv_blocks:
        scores = _scores(Q, K_j)
        m = np.maximum(m, scores.max(axis=-1, keepdims=True))
        p = np.exp(scores - m)
        l = l + p.sum(axis=-1, keepdims=True)
        acc = acc + p @ V_j
    return acc / l


def normalise_per_block(Q, kv_blocks):
    # Each block's softmax is normalised on its own, then the blocks are averaged.
    total, count = 0.0, 0
    for K_j, V_j in kv_blocks:
        scores = _scores(Q, K_j)
        p = np.exp(scores - scores.max(axis=-1, keepdims=True))
        total = total + (p / p.sum(axis=-1, keepdims=True)) @ V_j
        count += 1
    return total / count


def stores_all_blocks(Q, kv_blocks):
    # Right numbers, but every block is kept and the full score matrix is built.
    blocks = list(kv_blocks)
    K = np.concatenate([k for k, _ in blocks], axis=-2)
    V = np.concatenate([v for _, v in blocks], axis=-2)
    scores = _scores(Q, K)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True) @ V


def two_passes(Q, kv_blocks):
    # Pass 1 finds the maximum, pass 2 the sums: the second pass gets no blocks.
    m = np.full((*Q.shape[:-1], 1), -np.inf)
    for K_j, _ in kv_blocks:
        m = np.maximum(m, _scores(Q, K_j).max(axis=-1, keepdims=True))
    l = np.zeros_like(m)
    acc = np.zeros((*Q.shape[:-1], 1))
    for K_j, V_j in kv_blocks:
        p = np.exp(_scores(Q, K_j) - m)
        l = l + p.sum(axis=-1, keepdims=True)
        acc = acc + p @ V_j
    with np.errstate(invalid="ignore"):
        return acc / l


def no_running_max(Q, kv_blocks):
    # Sums of exp(score) without any maximum: exp overflows for large scores.
    l, acc = 0.0, 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for K_j, V_j in kv_blocks:
            p = np.exp(_scores(Q, K_j))
            l = l + p.sum(axis=-1, keepdims=True)
            acc = acc + p @ V_j
        return acc / l


def transpose_all_axes(Q, kv_blocks):
    m = np.full((*Q.shape[:-1], 1), -np.inf)
    l, acc = 0.0, 0.0
    for K_j, V_j in kv_blocks:
        scores = Q @ K_j.T / np.sqrt(Q.shape[-1])  # .T reverses every axis
        m_new = np.maximum(m, scores.max(axis=-1, keepdims=True))
        p = np.exp(scores - m_new)
        correction = np.exp(m - m_new)
        l = l * correction + p.sum(axis=-1, keepdims=True)
        acc = acc * correction + p @ V_j
        m = m_new
    return acc / l
