"""attn-drill: practise and get graded on attention mechanisms."""

from __future__ import annotations

__version__ = "0.1.0"
