"""Known-wrong causal attention variants (PyTorch); each is tagged in causal-attention.yaml."""

import math

import torch


def _lower(n):
    return torch.ones(n, n, dtype=torch.bool).tril()


def _masked(Q, K, V, divisor, allowed, fill=float("-inf"), dim=-1):
    scores = Q @ K.transpose(-2, -1) / divisor
    if allowed is not None:
        scores = scores.masked_fill(~allowed, fill)
    weights = torch.softmax(scores, dim=dim)
    return weights @ V, weights


def no_scale(Q, K, V):
    return _masked(Q, K, V, 1.0, _lower(Q.size(-2)))


def scale_by_dk(Q, K, V):
    return _masked(Q, K, V, Q.size(-1), _lower(Q.size(-2)))


def softmax_over_queries(Q, K, V):
    return _masked(Q, K, V, math.sqrt(Q.size(-1)), _lower(Q.size(-2)), fill=-1e9, dim=-2)


def naive_softmax(Q, K, V):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    scores = scores.masked_fill(~_lower(Q.size(-2)), float("-inf"))
    exps = torch.exp(scores)
    weights = exps / exps.sum(dim=-1, keepdim=True)
    return weights @ V, weights


def no_mask(Q, K, V):
    return _masked(Q, K, V, math.sqrt(Q.size(-1)), None)


def inverted_mask(Q, K, V):
    # torch.triu(..., diagonal=1) is the mask of *forbidden* positions, used here as "allowed".
    future = torch.ones(Q.size(-2), Q.size(-2), dtype=torch.bool).triu(diagonal=1)
    return _masked(Q, K, V, math.sqrt(Q.size(-1)), future, fill=-1e9)


def mask_after_softmax(Q, K, V):
    weights = torch.softmax(Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1)), dim=-1)
    weights = weights.masked_fill(~_lower(Q.size(-2)), 0.0)
    return weights @ V, weights


def tiny_fill(Q, K, V):
    return _masked(Q, K, V, math.sqrt(Q.size(-1)), _lower(Q.size(-2)), fill=-1e-12)


def swapped_outputs(Q, K, V):
    output, weights = _masked(Q, K, V, math.sqrt(Q.size(-1)), _lower(Q.size(-2)))
    return weights, output


def transpose_2d_only(Q, K, V):
    scores = Q @ K.t() / math.sqrt(Q.size(-1))  # K.t() raises for more than 2 dims
    weights = torch.softmax(scores.masked_fill(~_lower(Q.size(-2)), float("-inf")), dim=-1)
    return weights @ V, weights


def scales_query_in_place(Q, K, V):
    Q.div_(math.sqrt(Q.size(-1)))  # changes the caller's tensor
    return _masked(Q, K, V, 1.0, _lower(Q.size(-2)))


def detached_from_graph(Q, K, V):
    with torch.no_grad():
        return _masked(Q, K, V, math.sqrt(Q.size(-1)), _lower(Q.size(-2)))


def hides_diagonal(Q, K, V):
    # triu(diagonal=0) taken as the hidden part: nobody sees itself and row 0 sees nothing.
    n = Q.size(-2)
    hidden = torch.ones(n, n, dtype=torch.bool).triu(diagonal=0)
    return _masked(Q, K, V, math.sqrt(Q.size(-1)), ~hidden, fill=-1e9)
