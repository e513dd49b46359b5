import torch


def layer_norm(
    x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """LayerNorm over the last dim, as nn.LayerNorm computes it."""
    mean = x.mean(dim=-1, keepdim=True)
    # unbiased=False: torch.var divides by d - 1 by default, LayerNorm divides by d.
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return x_hat * gamma + beta
