"""Known-wrong SelfAttention modules; each is tagged in self-attention-module.yaml.

They share one correct skeleton (`_Reference`) and override a single step each, so every
mutant differs from the reference in exactly the way its name says.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Reference(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    # -- steps the mutants override --------------------------------------------------------
    def project(self, layer, x):
        return layer(x)

    def scale(self):
        return math.sqrt(self.d_k)

    def split(self, t):
        b, s, _ = t.shape
        return t.view(b, s, self.n_heads, self.d_k).transpose(1, 2)

    def merge(self, heads):
        b, _, s, _ = heads.shape
        return heads.transpose(1, 2).reshape(b, s, self.d_model)

    def apply_mask(self, scores, mask):
        return scores.masked_fill(mask == 0, float("-inf"))

    def normalise(self, scores, mask):
        return torch.softmax(scores, dim=-1)

    def output(self, concat):
        return self.W_o(concat)

    # -- the fixed pipeline ----------------------------------------------------------------
    def scaled_dot_product_attention(self, Q, K, V, mask=None):
        scores = Q @ K.transpose(-2, -1) / self.scale()
        if mask is not None:
            scores = self.apply_mask(scores, mask)
        weights = self.normalise(scores, mask)
        return weights @ V, weights

    def forward(self, x, mask=None):
        Q = self.split(self.project(self.W_q, x))
        K = self.split(self.project(self.W_k, x))
        V = self.split(self.project(self.W_v, x))
        heads, _ = self.scaled_dot_product_attention(Q, K, V, mask)
        return self.output(self.merge(heads))


class NoScale(_Reference):
    def scale(self):
        return 1.0


class ScaleByDModel(_Reference):
    def scale(self):
        return math.sqrt(self.d_model)


class ScaleByDk(_Reference):
    def scale(self):
        return float(self.d_k)


class SoftmaxWrongAxis(_Reference):
    def apply_mask(self, scores, mask):
        return scores.masked_fill(mask == 0, -1e9)

    def normalise(self, scores, mask):
        return torch.softmax(scores, dim=-2)


class HeadsNoTranspose(_Reference):
    def split(self, t):
        b, s, _ = t.shape
        return t.reshape(b, self.n_heads, s, self.d_k)

    def merge(self, heads):
        b, _, s, _ = heads.shape
        return heads.reshape(b, s, self.d_model)


class HeadsInterleaved(_Reference):
    def split(self, t):
        b, s, _ = t.shape
        # (b, s, d_k, h): head j gets columns j, j + h, j + 2h, ...
        return t.view(b, s, self.d_k, self.n_heads).permute(0, 3, 1, 2)

    def merge(self, heads):
        b, _, s, _ = heads.shape
        return heads.permute(0, 2, 3, 1).reshape(b, s, self.d_model)


class NoOutputProjection(_Reference):
    def output(self, concat):
        return concat


class MissingBias(_Reference):
    def project(self, layer, x):
        return F.linear(x, layer.weight)

    def output(self, concat):
        return F.linear(concat, self.W_o.weight)


class IgnoresMask(_Reference):
    def apply_mask(self, scores, mask):
        return scores


class MaskAfterSoftmax(_Reference):
    def apply_mask(self, scores, mask):
        return scores

    def normalise(self, scores, mask):
        weights = torch.softmax(scores, dim=-1)
        return weights if mask is None else weights.masked_fill(mask == 0, 0.0)


class InvertedMask(_Reference):
    def apply_mask(self, scores, mask):
        return scores.masked_fill(mask != 0, -1e9)


class TinyFill(_Reference):
    def apply_mask(self, scores, mask):
        return scores.masked_fill(mask == 0, -1e-12)


class Detached(_Reference):
    def forward(self, x, mask=None):
        return super().forward(x, mask).detach()  # the output no longer reaches the weights


class DropoutInTrain(_Reference):
    def normalise(self, scores, mask):
        # random zeros in train mode: right in eval mode, wrong (and not reproducible) in train
        return F.dropout(torch.softmax(scores, dim=-1), 0.1, self.training)


class EditsInputInPlace(_Reference):
    def forward(self, x, mask=None):
        output = super().forward(x, mask)
        with torch.no_grad():
            x.mul_(2.0)  # the caller's x changes, and backward needs the x forward saw
        return output


class MergeNoTranspose(_Reference):
    # Half right: heads split with view + transpose, merged back by reshape alone.
    def merge(self, heads):
        b, _, s, _ = heads.shape
        return heads.reshape(b, s, self.d_model)
