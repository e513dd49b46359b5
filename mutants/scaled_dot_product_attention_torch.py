"""Known-wrong scaled dot-product attention variants (PyTorch); each is tagged in the YAML."""

import math

import torch


def _finish(scores, V, mask, fill=float("-inf")):
    if mask is not None:
        scores = scores.masked_fill(mask == 0, fill)
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights


def _scores(Q, K, divisor):
    return Q @ K.transpose(-2, -1) / divisor


def no_scale(Q, K, V, mask=None):
    return _finish(_scores(Q, K, 1.0), V, mask)


def scale_by_dk(Q, K, V, mask=None):
    return _finish(_scores(Q, K, Q.size(-1)), V, mask)


def softmax_over_queries(Q, K, V, mask=None):
    scores = _scores(Q, K, math.sqrt(Q.size(-1)))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    weights = torch.softmax(scores, dim=-2)
    return weights @ V, weights


def naive_softmax(Q, K, V, mask=None):
    scores = _scores(Q, K, math.sqrt(Q.size(-1)))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    exps = torch.exp(scores)
    weights = exps / exps.sum(dim=-1, keepdim=True)
    return weights @ V, weights


def mask_after_softmax(Q, K, V, mask=None):
    weights = torch.softmax(_scores(Q, K, math.sqrt(Q.size(-1))), dim=-1)
    if mask is not None:
        weights = weights.masked_fill(mask == 0, 0.0)
    return weights @ V, weights


def inverted_mask(Q, K, V, mask=None):
    scores = _scores(Q, K, math.sqrt(Q.size(-1)))
    if mask is not None:
        scores = scores.masked_fill(mask != 0, -1e9)
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights


def tiny_fill(Q, K, V, mask=None):
    return _finish(_scores(Q, K, math.sqrt(Q.size(-1))), V, mask, fill=-1e-12)


def ignores_mask(Q, K, V, mask=None):
    return _finish(_scores(Q, K, math.sqrt(Q.size(-1))), V, None)


def swapped_outputs(Q, K, V, mask=None):
    output, weights = _finish(_scores(Q, K, math.sqrt(Q.size(-1))), V, mask)
    return weights, output


def transpose_2d_only(Q, K, V, mask=None):
    # K.t() only exists for 2-D tensors: it raises as soon as there is a batch dimension.
    return _finish(Q @ K.t() / math.sqrt(Q.size(-1)), V, mask)


def scales_query_in_place(Q, K, V, mask=None):
    Q.div_(math.sqrt(Q.size(-1)))  # changes the caller's tensor
    return _finish(_scores(Q, K, 1.0), V, mask)


def detached_from_graph(Q, K, V, mask=None):
    with torch.no_grad():
        return _finish(_scores(Q, K, math.sqrt(Q.size(-1))), V, mask)
