"""The catalog of learner-facing grading messages, in English and Chinese.

The grader speaks in message ids with parameters; this module turns them into text in one
language. A new check costs one entry here per language, not bilingual strings in the core.
Templates are `str.format` strings; parameters may be numbers, strings or other `Message`s
(rendered in the same language). Kept free of heavy imports: problem loading uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LANGS = ("en", "zh")

CATALOG: dict[str, tuple[str, str]] = {
    # -- property names (one per entry of grading.properties.PROPERTIES) --------------------
    "property.batch-dims": ("works with leading batch dimensions", "支持前置的批量维度"),
    "property.mask": ("respects the mask", "正确使用掩码"),
    "property.stability": ("numerically stable for large scores", "大分数下数值稳定"),
    "property.no-mutation": ("does not modify its inputs", "不修改输入"),
    "property.sums-to-one": ("attention weights sum to 1", "注意力权重和为 1"),
    "property.sums-to-one.axis": ("each slice sums to 1 along `axis`",
                                  "沿 `axis` 的每个切片之和为 1"),
    "property.permutation-equivariance": ("permuting the sequence permutes the output",
                                          "打乱序列顺序，输出随之同样打乱"),
    "property.causal-future": ("future tokens do not change earlier outputs",
                               "未来的 token 不影响之前位置的输出"),
    "property.gradients": ("gradients match the reference", "梯度与参考实现一致"),
}


@dataclass(frozen=True)
class Message:
    """A message id and its parameters: what the core returns instead of text."""

    id: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, lang: str) -> str:
        return render(self.id, lang, **self.params)


def render(message_id: str, lang: str, **params: Any) -> str:
    """The text of a message in `lang` (English for any language the catalog lacks)."""
    en, zh = CATALOG[message_id]
    template = zh if lang == "zh" else en
    values = {k: v.render(lang) if isinstance(v, Message) else v for k, v in params.items()}
    return template.format(**values) if values else template
