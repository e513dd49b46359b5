"""Known-wrong Transformer blocks; each is tagged in transformer-block.yaml. They reuse the
reference's attention layer and override one step of the block each."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Attention(nn.Module):
    def __init__(self, d_model, n_heads, use_mask=True):
        super().__init__()
        self.n_heads, self.d_k, self.use_mask = n_heads, d_model // n_heads, use_mask
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def _split(self, t):
        *lead, seq, _ = t.shape
        return t.reshape(*lead, seq, self.n_heads, self.d_k).transpose(-3, -2)

    def forward(self, x, mask=None):
        *lead, seq, d_model = x.shape
        Q, K, V = self._split(self.W_q(x)), self._split(self.W_k(x)), self._split(self.W_v(x))
        scores = Q @ K.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None and self.use_mask:
            scores = scores.masked_fill(mask == 0, float("-inf"))
        heads = torch.softmax(scores, dim=-1) @ V
        return self.W_o(heads.transpose(-3, -2).reshape(*lead, seq, d_model))


class _Block(nn.Module):
    use_mask = True

    def __init__(self, d_model, n_heads, d_ff, norm_first=True):
        super().__init__()
        self.norm_first = norm_first
        self.attn = _Attention(d_model, n_heads, self.use_mask)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)

    def activation(self, h):
        return torch.relu(h)

    def sublayer_out(self, h):
        return h

    def feed_forward(self, x):
        return self.sublayer_out(self.ff2(self.activation(self.ff1(x))))

    def pre(self, x, mask):
        h = x + self.sublayer_out(self.attn(self.ln1(x), mask))
        return h + self.feed_forward(self.ln2(h))

    def post(self, x, mask):
        h = self.ln1(x + self.sublayer_out(self.attn(x, mask)))
        return self.ln2(h + self.feed_forward(h))

    def forward(self, x, mask=None):
        return self.pre(x, mask) if self.norm_first else self.post(x, mask)


class NormPlacementSwapped(_Block):
    def forward(self, x, mask=None):
        return self.post(x, mask) if self.norm_first else self.pre(x, mask)


class MissingResidual(_Block):
    # the attention sublayer's "x +" is gone
    def pre(self, x, mask):
        h = self.attn(self.ln1(x), mask)
        return h + self.feed_forward(self.ln2(h))

    def post(self, x, mask):
        h = self.ln1(self.attn(x, mask))
        return self.ln2(h + self.feed_forward(h))


class ResidualFromNormalised(_Block):
    # pre-LN with the residual taken after the norm: ln1(x) + attn(ln1(x))
    def pre(self, x, mask):
        normed = self.ln1(x)
        h = normed + self.attn(normed, mask)
        normed = self.ln2(h)
        return normed + self.feed_forward(normed)


class WrongActivation(_Block):
    def activation(self, h):
        return F.gelu(h)


class DropoutLeftOn(_Block):
    def sublayer_out(self, h):
        return F.dropout(h, 0.1, self.training)


class IgnoresMask(_Block):
    use_mask = False


class Detached(_Block):
    def forward(self, x, mask=None):
        return super().forward(x, mask).detach()


class EditsInputInPlace(_Block):
    def forward(self, x, mask=None):
        out = super().forward(x, mask)
        with torch.no_grad():
            x.mul_(2.0)
        return out
