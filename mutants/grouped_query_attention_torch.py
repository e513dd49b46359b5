"""Known-wrong grouped-query attention variants (torch); each is tagged in the YAML."""

import math

import torch


def _attend(Q, K, V, mask, scale=True):
    scores = Q @ K.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(Q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights


def _group(Q, K):
    return Q.size(-3) // K.size(-3)


def _interleave(Q, K, V):
    group = _group(Q, K)
    return K.repeat_interleave(group, dim=-3), V.repeat_interleave(group, dim=-3)


def tile_heads(Q, K, V, mask=None):
    # Tensor.repeat tiles the whole stack: [k0, k1, k0, k1], so query head i uses head i % g.
    reps = [1] * (K.dim() - 3) + [_group(Q, K), 1, 1]
    return _attend(Q, K.repeat(*reps), V.repeat(*reps), mask)


def kv_head_by_count(Q, K, V, mask=None):
    # Divides the head index by the number of key/value heads instead of the group size.
    index = torch.arange(Q.size(-3)) // K.size(-3)
    return _attend(Q, K[..., index, :, :], V[..., index, :, :], mask)


def first_kv_head_only(Q, K, V, mask=None):
    return _attend(Q, K[..., :1, :, :], V[..., :1, :, :], mask)


def repeat_on_first_dim(Q, K, V, mask=None):
    group = _group(Q, K)
    return _attend(Q, K.repeat_interleave(group, dim=0), V.repeat_interleave(group, dim=0), mask)


def no_scale(Q, K, V, mask=None):
    K, V = _interleave(Q, K, V)
    return _attend(Q, K, V, mask, scale=False)


def ignores_mask(Q, K, V, mask=None):
    K, V = _interleave(Q, K, V)
    return _attend(Q, K, V, None)


def scales_query_in_place(Q, K, V, mask=None):
    Q.div_(math.sqrt(Q.size(-1)))  # changes the caller's tensor
    K, V = _interleave(Q, K, V)
    return _attend(Q, K, V, mask, scale=False)


def detached_from_graph(Q, K, V, mask=None):
    K, V = _interleave(Q, K, V)
    output, weights = _attend(Q.detach(), K.detach(), V.detach(), mask)
    return output, weights
