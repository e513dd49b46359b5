"""Known-wrong RMSNorm variants (torch); each is named in rms-norm.yaml."""

import torch


def _mean_square(x):
    return x.pow(2).mean(dim=-1, keepdim=True)


def subtracts_mean(x, weight, eps=1e-6):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(_mean_square(centred) + eps) * weight


def eps_outside_root(x, weight, eps=1e-6):
    return x / (torch.sqrt(_mean_square(x)) + eps) * weight


def no_weight(x, weight, eps=1e-6):
    return x / torch.sqrt(_mean_square(x) + eps)


def l2_norm(x, weight, eps=1e-6):
    return x / torch.sqrt(x.pow(2).sum(dim=-1, keepdim=True) + eps) * weight


def one_plus_weight(x, weight, eps=1e-6):
    return x / torch.sqrt(_mean_square(x) + eps) * (1.0 + weight)


def axis_one(x, weight, eps=1e-6):
    return x / torch.sqrt(x.pow(2).mean(dim=1, keepdim=True) + eps) * weight


def detached(x, weight, eps=1e-6):
    return (x / torch.sqrt(_mean_square(x) + eps) * weight).detach()


def in_place(x, weight, eps=1e-6):
    with torch.no_grad():
        x.div_(torch.sqrt(_mean_square(x) + eps))
    return x * weight
