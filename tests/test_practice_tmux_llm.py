"""End to end in a real terminal (tmux): practising one of the LLM-attention problems.

The learner saves a grouped-query attention that lays the key/value heads out with np.tile
(query head i served by head i % g) and expects the failure named as that misconception; then
saves the right one (np.repeat) and expects the pass and the reference. Every wait polls the
screen for the last thing a report draws (the key legend), under a deadline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_practice_tmux import (
    TMUX,
    _latest,
    _save_atomically,
    _start,
    _wait_for,
    _wait_for_exit,
)

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal test "
                       "of `attn-drill practice` needs it"),
]

BODY = """\
# attn-drill: grouped-query-attention
import numpy as np


def grouped_query_attention(Q, K, V, mask=None):
    h, g = Q.shape[-3], K.shape[-3]
    group = h // g
    K, V = EXPAND(K), EXPAND(V)
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = exps / exps.sum(axis=-1, keepdims=True)
    return weights @ V, weights
"""
TILED = BODY.replace("EXPAND(K), EXPAND(V)", (
    "(np.tile(x, [1] * (x.ndim - 3) + [group, 1, 1]) for x in (K, V))"))
REPEATED = BODY.replace("EXPAND(K), EXPAND(V)", (
    "np.repeat(K, group, axis=-3), np.repeat(V, group, axis=-3)"))


def test_practice_grouped_query_attention_wrong_then_right(tmp_path: Path,
                                                           isolated_home: Path) -> None:
    work = tmp_path / "work"
    terminal, exit_file, stty_file = _start(
        tmp_path, isolated_home, "grouped-query-attention", "--track", "numpy",
        "--dir", str(work), "--lang", "en")
    try:
        solution = work / "grouped_query_attention.py"
        _wait_for(terminal, lambda s: "Created your file" in s and "q quit" in s,
                  "the statement and the key legend")
        assert "Grouped-query attention" in terminal.screen()

        solution.write_text(TILED)
        failed = _wait_for(
            terminal,
            lambda s: all(part in _latest(s, "Your file:") for part in (
                "Likely misconception: tiled-kv-heads", "q quit")),
            "the failed grade naming the tiled heads, and the key legend",
        )
        latest = _latest(failed, "Your file:")
        assert "Passed!" not in latest and "Key/value heads tiled" in latest

        _save_atomically(solution, REPEATED)
        passed = _wait_for(
            terminal,
            lambda s: all(part in _latest(s, "Your file:") for part in ("Passed!", "n / Enter")),
            "the pass and the reference solution",
        )
        latest = _latest(passed, "Your file:")
        assert "Reference solution" in latest and "np.repeat(K, group, axis=-3)" in latest

        terminal.keys("q")
        _wait_for_exit(terminal, exit_file, stty_file)
        assert "Traceback" not in terminal.screen()
    finally:
        terminal.close()

    from attn_drill import progress

    assert progress.has_passed("grouped-query-attention", "numpy")
    assert progress.flagged_concepts().get("tiled-kv-heads")
