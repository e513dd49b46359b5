"""The quiz question model (pydantic): one YAML file per topic in `quiz/<topic>.yaml` of a pack.

```yaml
topic: scaling
title: {en: ..., zh: ...}
questions:
  - id: scaling-variance
    kind: choice            # choice | numeric | text | handcalc
    difficulty: easy        # easy | medium | hard
    concepts: [missing-scale]
    problem: scaled-dot-product-attention   # optional
    prompt: {en: ..., zh: ...}
    options: [{en: ..., zh: ...}, ...]      # choice only (2-6)
    answer: 1                               # choice: 0-based index; numeric: the number
    tolerance: 0.01                         # numeric only (absolute)
    rubric: {points: [...], threshold: 2}   # text only
    handcalc: {target: weight, tokens: [2, 3], d_k: [2, 4], decimals: 2}   # handcalc only
                                            # (+ mask: causal, heads: 2)
    hint: {en: ..., zh: ...}
    explanation: {en: ..., zh: ...}
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from attn_drill.problems import KEBAB, L10n, Model, Rubric

QuestionKind = Literal["choice", "numeric", "text", "handcalc"]
LANGS = ("en", "zh")


class HandcalcSpec(Model):
    """How to generate a randomized hand-calculation item.

    `tokens` and `d_k` are inclusive [low, high] ranges; entries of Q, K, V are integers in
    `values` (inclusive). The learner computes one attention weight or one output entry.
    """

    target: Literal["weight", "output"]
    tokens: tuple[int, int] = (2, 3)
    d_k: tuple[int, int] = (2, 4)  # per head
    d_v: tuple[int, int] = (1, 3)  # per head
    values: tuple[int, int] = (-2, 2)
    decimals: int = Field(default=2, ge=1, le=4)
    mask: Literal["none", "causal"] = "none"  # causal: query i sees keys j <= i only
    heads: int = Field(default=1, ge=1, le=2)  # 2: Q, K, V split into two heads, concatenated

    @model_validator(mode="after")
    def _ranges(self) -> HandcalcSpec:
        for name in ("tokens", "d_k", "d_v", "values"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: low {low} is above high {high}")
        if self.tokens[0] < 1 or self.d_k[0] < 1 or self.d_v[0] < 1:
            raise ValueError("tokens, d_k and d_v must be at least 1")
        if self.tokens[1] > 6 or self.heads * self.d_k[1] > 8 or self.heads * self.d_v[1] > 6:
            raise ValueError(
                "hand calculations stay small: tokens <= 6, heads × d_k <= 8, heads × d_v <= 6"
            )
        if self.mask == "causal" and self.tokens[1] < 2:
            raise ValueError("a causal hand calculation needs at least 2 tokens")
        if self.heads > 1 and self.target != "output":
            raise ValueError("a two-head hand calculation asks for an output entry")
        return self


Difficulty = Literal["easy", "medium", "hard"]


class Question(Model):
    id: str = Field(pattern=KEBAB)
    kind: QuestionKind
    # easy: recall one fact; medium: apply it (a number, a short explanation); hard: several
    # steps (a masked or multi-head hand calculation, a data flow through every shape).
    # Optional so that older packs still load; the built-in bank tags every question.
    difficulty: Difficulty = "medium"
    concepts: list[str] = Field(default_factory=list)
    problem: str | None = Field(default=None, pattern=KEBAB)
    prompt: L10n
    options: list[L10n] | None = None
    answer: int | float | None = None
    tolerance: float | None = Field(default=None, ge=0)
    rubric: Rubric | None = None
    handcalc: HandcalcSpec | None = None
    hint: L10n | None = None
    explanation: L10n

    @model_validator(mode="after")
    def _kind_fields(self) -> Question:
        for concept in self.concepts:
            if not re.match(KEBAB, concept):
                raise ValueError(f"concepts: {concept!r} is not kebab-case")
        allowed = {
            "choice": {"options", "answer"},
            "numeric": {"answer", "tolerance"},
            "text": {"rubric"},
            "handcalc": {"handcalc"},
        }[self.kind]
        for name in ("options", "answer", "tolerance", "rubric", "handcalc"):
            present = getattr(self, name) is not None
            if name in allowed and not present and name != "tolerance":
                raise ValueError(f"a {self.kind} question needs '{name}'")
            if present and name not in allowed:
                raise ValueError(f"'{name}' does not belong to a {self.kind} question")
        if self.kind == "choice":
            assert self.options is not None
            if not 2 <= len(self.options) <= 6:
                raise ValueError(
                    f"options: a choice question needs 2-6 options, got {len(self.options)}"
                )
            if isinstance(self.answer, bool) or not isinstance(self.answer, int):
                raise ValueError("answer: a choice answer is the 0-based index of the right option")
            if not 0 <= self.answer < len(self.options):
                raise ValueError(
                    f"answer: index {self.answer} is out of range for {len(self.options)} options"
                )
        if self.kind == "numeric" and self.tolerance is None:
            raise ValueError("a numeric question needs 'tolerance' (absolute)")
        return self

    @property
    def langs(self) -> list[str]:
        return list(LANGS)

    def numeric_answer(self) -> float:
        assert self.answer is not None
        return float(self.answer)


class QuizFile(Model):
    topic: str = Field(pattern=KEBAB)
    title: L10n
    questions: list[Question] = Field(min_length=1)
