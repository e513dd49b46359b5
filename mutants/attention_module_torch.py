"""Known-wrong versions of seed 000's Attention module; each is tagged in
attention-module.yaml. They share one correct skeleton and override a single step each."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Reference(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.d_model = d_model
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)

    def project(self, layer, x):
        return layer(x)

    def scale(self):
        return math.sqrt(self.d_model)

    def normalise(self, scores):
        return torch.softmax(scores, dim=-1)

    def finish(self, output, weights):
        return output, weights

    def forward(self, x):
        Q = self.project(self.W_q, x)
        K = self.project(self.W_k, x)
        V = self.project(self.W_v, x)
        weights = self.normalise(Q @ K.transpose(-2, -1) / self.scale())
        return self.finish(weights @ V, weights)


class NoScale(_Reference):
    def scale(self):
        return 1.0


class ScaleByDModel(_Reference):
    def scale(self):
        return float(self.d_model)  # d_model instead of its square root


class SoftmaxWrongDim(_Reference):
    def normalise(self, scores):
        return torch.softmax(scores, dim=-2)  # each key's column sums to 1


class SoftmaxDimOne(_Reference):
    def normalise(self, scores):
        return torch.softmax(scores, dim=1)  # right for (seq, seq) scores only


class WeightsNotReturned(_Reference):
    def finish(self, output, weights):
        return output


class MissingBias(_Reference):
    def project(self, layer, x):
        return F.linear(x, layer.weight)


class Detached(_Reference):
    def finish(self, output, weights):
        return output.detach(), weights.detach()


class DropoutInTrain(_Reference):
    def normalise(self, scores):
        return F.dropout(torch.softmax(scores, dim=-1), 0.1, self.training)


class EditsInputInPlace(_Reference):
    def forward(self, x):
        original = x.clone()  # right numbers and gradients: only the caller's x is damaged
        with torch.no_grad():
            x.mul_(2.0)
        return super().forward(original)
