"""Known-wrong LayerNorm variants (torch); each is named in layer-norm.yaml."""

import torch


def _affine(x_hat, gamma, beta):
    return x_hat * gamma + beta


def unbiased_variance(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)  # torch's default is the unbiased estimate (d - 1)
    return _affine((x - mean) / torch.sqrt(var + eps), gamma, beta)


def eps_outside_root(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return _affine((x - mean) / (std + eps), gamma, beta)


def no_affine(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + eps)


def first_axis(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, keepdim=True, unbiased=False)
    return _affine((x - mean) / torch.sqrt(var + eps), gamma, beta)


def axis_one(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return _affine((x - mean) / torch.sqrt(var + eps), gamma, beta)


def detached(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return _affine((x - mean) / torch.sqrt(var + eps), gamma, beta).detach()


def in_place(x, gamma, beta, eps=1e-5):
    with torch.no_grad():
        x.sub_(x.mean(dim=-1, keepdim=True))
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return _affine(x / torch.sqrt(var + eps), gamma, beta)
