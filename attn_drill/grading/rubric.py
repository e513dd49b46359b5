"""Grading a free-text answer against a rubric, offline and deterministically.

Used by the `text` track (e.g. `explain-sqrt-dk`) and by the quiz's free-text questions.
`grade_answer` is a pure function: no I/O, no network, no model, a few milliseconds.

How an answer is read
---------------------
1. **Normalisation** (`normalise`): Unicode NFKC (full-width letters, digits and punctuation
   become half-width, `dₖ` becomes `dk`), case folding, LaTeX and code spellings of the same
   math reduced to one canonical token. The tokens that rubric authors can rely on:

   - `dk` for d_k, d_{k}, d_{\\text{k}}, $d_k$, dₖ, "d k";
   - `sqrtdk` for √d_k, √(d_k), \\sqrt{d_k}, sqrt(d_k), math.sqrt(self.d_k), d_k**0.5,
     d_k^{1/2}, "square root of d_k", "root of d k", 根号d_k, 根号下dk, d_k的平方根, 对dk开根号;
   - `dmodel` / `sqrtdmodel` likewise for d_model; any other √ or \\sqrt becomes `sqrt`;
   - \\frac{a}{b} becomes `a/b` (so \\frac{1}{\\sqrt{d_k}} is `1/sqrtdk`).

   Markdown markup, HTML comments (where the starter template keeps its prompts) and the
   `# attn-drill: <id>` header are dropped; whitespace next to Chinese characters or symbols
   is removed, so `方差 为 1` and `方差为1` read the same.
2. **Sentences**: wrapped lines of a paragraph are joined, then the text is cut into sentences
   (`. ! ? 。 ！ ？`, list items, headings, table rows).
3. **Phrases** are normalised the same way and compiled to a pattern:
   - an English word matches at a word start and accepts any ending, so `grow` matches
     grows / growing / grown, `saturate` matches saturates / saturated / saturating /
     saturation; a few irregular forms are known (grew, became, shrank ...); British and
     American spellings (normalise / normalize) are the same. Words of one or two letters
     (`dk`, `q`, `1`) must match whole.
   - Chinese characters match literally; words of a phrase may be separated by spaces or `-`.
   - A phrase starting with `re:` is a regular expression, searched in the normalised
     sentence (write it in lower case, against the canonical tokens above).
4. **Points**: a group of phrases matches in a sentence when any phrase is found there (and is
   not negated, see below). A point is met when every group matches within a window of
   `WINDOW_SENTENCES` consecutive sentences, so an idea must be stated, not assembled from
   words scattered over the whole answer.
5. **Negation** (kept deliberately simple): an occurrence does not count when a negator sits
   among the few tokens before it in the same clause ("does **not** saturate", "**never**
   vanish", "**不会**饱和", "**没有**出现梯度消失"). It still counts when the clause states a
   purpose or consequence ("**so that** the softmax does not saturate", "to **prevent** ...",
   "**防止** / **避免** / **使** softmax 不饱和") or a condition ("**if** we do not scale, ...",
   "不缩放**时**"), because there the negation *is* the explanation, unless the purpose itself
   is denied ("it is **not** there to prevent ...", "**并不是**为了防止 ..."). "no longer" and
   "不再" count too (they say it used to happen). Without this rule "The scale is not about
   the softmax saturating" would earn the saturation point. Denials placed after the idea
   ("... has nothing to do with it", "与此无关") are not recognised.
6. **Length**: an answer with fewer than `rubric.min_chars` meaningful characters (letters,
   digits, Chinese characters outside comments, headings and markup) is `too_short` and fails
   with a message saying why (empty, or only the template).

`score` is the fraction of the total weight earned and `threshold` the same fraction of
`rubric.threshold` (the rubric's threshold is in weight units). `passed` needs
`score >= threshold`, every `required` point met and an answer that is not too short.
Ideas are looked for in the first `MAX_MATCHED_CHARS` characters, and every step is linear
in the length of the answer, so even a pathological file grades in well under a second.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from attn_drill.problems import Rubric, RubricPoint

WINDOW_SENTENCES = 2
MAX_MATCHED_CHARS = 20_000  # ideas are looked for in the first 20k characters (keeps it fast)
NEGATION_WINDOW = 4  # tokens looked at for English negators before a match


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PointResult:
    """One rubric point for one answer. `label` and `advice` are in the requested language;
    `advice` is empty when the point is met (there is nothing to add)."""

    id: str
    label: str
    met: bool
    advice: str
    weight: float
    required: bool
    evidence: str = ""  # the normalised sentence(s) that met the point, for feedback and tests

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "met": self.met,
            "advice": self.advice,
            "weight": self.weight,
            "required": self.required,
        }


@dataclass(frozen=True)
class RubricResult:
    """The verdict on one answer. `passed` needs `score >= threshold`, every required point
    met and `too_short` false; `message` says which of these failed, in the requested
    language; `diagnosis` holds misconception ids recognised in the answer (see `diagnose`)."""

    points: list[PointResult]
    score: float  # earned weight / total weight, in [0, 1]
    threshold: float  # rubric.threshold / total weight, in the same unit as `score`
    passed: bool
    too_short: bool
    message: str = ""  # one learner-facing sentence: why it failed, or that it passed
    diagnosis: list[str] = field(default_factory=list)  # misconception ids recognised (see below)
    earned: float = 0.0  # in the rubric's weight units
    total: float = 0.0

    @property
    def missing(self) -> list[PointResult]:
        return [p for p in self.points if not p.met]

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": [p.to_dict() for p in self.points],
            "score": self.score,
            "threshold": self.threshold,
            "passed": self.passed,
            "too_short": self.too_short,
            "message": self.message,
            "diagnosis": list(self.diagnosis),
        }


# -- normalisation -----------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_HEADER_LINE = re.compile(r"^[ \t]*#[ \t]*attn-drill:.*$", re.M | re.I)

# Quotes, dashes and dots that NFKC leaves alone.
_CHAR_MAP = str.maketrans(
    {
        "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
        "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00b7": "·", "\u22c5": "·", "\u2022": "·",
        "\u2219": "·", "\u00d7": "×", "\u00f7": "/", "\u3001": ",",
    }
)

# (pattern, replacement), applied in order to case-folded text.
_MATH_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, f), r) for p, r, f in [
        (r"\\(?:left|right|bigg?|displaystyle|textstyle)(?![a-z])", "", 0),
        (r"\\(?:[,;:! ]|quad|qquad)", " ", 0),
        (r"\\(?:text|mathrm|mathit|mathbf|mathsf|operatorname|textrm|textit|textbf|boldsymbol|rm|bf)"
         r"\s*\{([^{}]*)\}", r"\1", 0),
        (r"\\(?:cdot|bullet)(?![a-z])", "·", 0),
        (r"\\times(?![a-z])", "×", 0),
        (r"\\top(?![a-z])", "t", 0),
        (r"\\approx(?![a-z])", "≈", 0),
        (r"\\propto(?![a-z])", " proportional to ", 0),
        (r"\\(?:to|rightarrow|longrightarrow|implies|rightarrow)(?![a-z])", "→", 0),
        (r"\\infty(?![a-z])", "∞", 0),
        (r"\\sigma(?![a-z])", "σ", 0),
        (r"\\(?:leq?|leqslant)(?![a-z])", "≤", 0),
        (r"\\(?:geq?|geqslant)(?![a-z])", "≥", 0),
        (r"\\gg(?![a-z])", "≫", 0),
        (r"\\ll(?![a-z])", "≪", 0),
        (r"\\(?:t|d)?frac(?![a-z])", r"\\frac", 0),
        # d_k and d_model in their many spellings (LaTeX, code, subscripts, spaced).
        (r"(?<![a-z0-9])d\s*_\s*\{\s*(?:model|\\?text\s*model)\s*\}", "dmodel", 0),
        (r"(?<![a-z0-9])d\s*_\s*model(?![a-z0-9])", "dmodel", 0),
        (r"(?<![a-z0-9])d\s*_\s*\{\s*k(?:ey)?\s*\}", "dk", 0),
        (r"(?<![a-z0-9])d\s*_\s*k(?:ey)?(?![a-z0-9])", "dk", 0),
        (r"(?<![a-z0-9])d\s+(?:sub\s+)?k(?![a-z0-9'])", "dk", 0),
        (r"(?<![a-z0-9])(?:self\s*\.\s*)(dk|dmodel)(?![a-z0-9])", r"\1", 0),
        # Code that takes d_k from a tensor: math.sqrt(q.size(-1)), k.shape[-1] ** 0.5 ...
        (r"(?:(?:np|numpy|math|torch)\s*\.\s*)?sqrt\s*\(\s*(?:q|k|query|key|queries|keys)\s*\."
         r"\s*(?:size\s*\(\s*-\s*1\s*\)|shape\s*\[\s*-\s*1\s*\])\s*\)", "sqrtdk", 0),
        (r"(?<![a-z0-9])(?:q|k|query|key)\s*\.\s*(?:size\s*\(\s*-\s*1\s*\)|shape\s*\[\s*-\s*1\s*\])",
         "dk", 0),
        # square roots of d_k / d_model / d
        (r"(?:\\sqrt|√|(?:(?:np|numpy|math|torch)\s*\.\s*)?sqrt)\s*[\(\{\[]?\s*(dk|dmodel|d)"
         r"(?![a-z0-9])(?:\s*[\)\}\]])?", r"sqrt\1", 0),
        (r"(?:the\s+)?(?:square\s+)?root\s+(?:of\s+)?(?:the\s+)?(dk|dmodel)(?![a-z0-9])",
         r"sqrt\1", 0),
        (r"(?:the\s+)?(?:square\s+)?root\s+of\s+(?:the\s+)?(?:key\s+dimension|dimension\s+of\s+"
         r"(?:the\s+)?keys?)", "sqrtdk", 0),
        (r"(?<![a-z0-9])(dk|dmodel)\s*(?:\^|\*\*)\s*[\(\{]?\s*(?:0?\.5|1\s*/\s*2)\s*[\)\}]?",
         r"sqrt\1", 0),
        (r"根号\s*下?\s*[\(\{]?\s*(dk|dmodel)\s*[\)\}]?", r"sqrt\1", 0),
        (r"对\s*(dk|dmodel)\s*开\s*(?:根号|平方根|方)", r"sqrt\1", 0),
        (r"(?<![a-z0-9])(dk|dmodel)\s*的?\s*(?:算术)?(?:平方根|开方|开根号|根号)", r"sqrt\1", 0),
        (r"\\sqrt|√", "sqrt", 0),
        # \frac{a}{b} -> a/b (twice for one level of nesting)
        (r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"\1/\2", 0),
        (r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"\1/\2", 0),
        (r"\\frac\s*(\w)\s*\{([^{}]*)\}", r"\1/\2", 0),
        (r"\^\s*\{\s*t\s*\}", "^t", 0),
        (r"\$+|\\[()\[\]]", " ", 0),
    ]
]

_MARKUP = re.compile(r"\*\*|__|[*_`~|]")
_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-+*]\s+|\d{1,3}[.)]\s+)+")
_SPACES = re.compile(r"\s+")
# A space is only meaningful between two ASCII word characters: drop it everywhere else.
_SPACE_NOT_BETWEEN_WORDS = re.compile(r"(?<![a-z0-9']) | (?![a-z0-9'])")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP).casefold()
    for pattern, replacement in _MATH_RULES:
        text = pattern.sub(replacement, text)
    return text


def _compact(text: str) -> str:
    text = _MARKUP.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return _SPACE_NOT_BETWEEN_WORDS.sub("", text)


def normalise(text: str) -> str:
    """One canonical spelling of `text` (see the module docstring); used for phrases too."""
    return _compact(_fold(text))


def strip_template(text: str) -> str:
    """The answer without the `# attn-drill:` header and HTML comments (the template's prompts)."""
    return _HEADER_LINE.sub("", _HTML_COMMENT.sub(" ", text))


_BLOCK_START = re.compile(r"^\s*(?:#{1,6}\s|[-+*]\s|\d{1,3}[.)]\s|>|\||```|\$\$)")
_ORDERED_ITEM = re.compile(r"^\s*\d{1,3}[.)]\s")
_ENDS_UNIT = re.compile(r"[.!?:;。！？：；]\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-+*]|\d{1,3}[.)])\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    """Normalised sentences of an answer (template prompts and header removed)."""
    folded = _fold(strip_template(text))
    blocks: list[str] = []
    current: list[str] = []
    in_item = False  # the current block is a list item
    for line in folded.splitlines():
        if not line.strip():
            if current:
                blocks.append(" ".join(current))
                current, in_item = [], False
            continue
        starts_block = bool(_BLOCK_START.match(line))
        if (
            starts_block
            and current
            and not in_item
            and _ORDERED_ITEM.match(line)
            and not _ENDS_UNIT.search(current[-1])
        ):
            # "... back to\n1. Dividing": a wrapped line that happens to start with a number
            starts_block = False
        if starts_block:
            if current:
                blocks.append(" ".join(current))
            current, in_item = [], bool(_LIST_ITEM.match(line))
            line = _LINE_PREFIX.sub("", line)
        current.append(line)
    if current:
        blocks.append(" ".join(current))
    out: list[str] = []
    for block in blocks:
        for piece in _SENTENCE_END.split(block):
            compact = _compact(piece)
            if compact:
                out.append(compact)
    return out


_MEANINGFUL = re.compile(f"[a-z0-9{_CJK}]")


def meaningful_chars(text: str) -> int:
    """Letters, digits and Chinese characters of the answer, not counting the template's
    comments and header, Markdown headings or markup."""
    body = strip_template(text)
    body = "\n".join(line for line in body.splitlines() if not re.match(r"^\s*#{1,6}\s", line))
    return len(_MEANINGFUL.findall(unicodedata.normalize("NFKC", body).casefold()))


# -- phrase patterns ---------------------------------------------------------------------

# Irregular forms that a prefix match would miss.
_IRREGULAR = {
    "grow": "(?:grow|grew)",
    "become": "(?:becom|became)",
    "rise": "(?:ris|rose)",
    "blow": "(?:blow|blew)",
    "fall": "(?:fall|fell)",
    "shrink": "(?:shrink|shrank|shrunk)",
    "make": "(?:mak|made)",
    "get": "(?:get|got)",
    "go": "(?:go|goes|going|gone|went)",
    "keep": "(?:keep|kept)",
    "push": "push",
    "drive": "(?:driv|drove)",
    "lead": "(?:lead|led)",
    "take": "(?:tak|took)",
    "give": "(?:giv|gave)",
    "high": "high",
    "large": "larg",
    "small": "small",
    "tiny": "(?:tiny|tini)",
    "vary": "(?:vary|vari)",
    "die": "(?:die|dy|dead)",
}

_TOKEN = re.compile(rf"[a-z0-9]+|[{_CJK}]+|\s+|-|.", re.S)


def _word_pattern(word: str) -> str:
    if len(word) <= 2 or word.isdigit():
        return re.escape(word) + "(?![a-z0-9])"
    if word in _IRREGULAR:
        return _IRREGULAR[word] + "[a-z]*"
    stem = word
    if len(stem) >= 5 and stem.endswith("e"):
        stem = stem[:-1]  # saturate -> saturat(es|ed|ing|ion)
    elif len(stem) >= 4 and stem.endswith("y") and stem[-2] not in "aeiou":
        stem = stem[:-1] + "(?:y|i)"
    stem = re.sub(r"i[sz](?=[aei]|$)", "i[sz]", stem)  # normalise / normalize
    return stem + "[a-z]*"


_NEVER = re.compile(r"(?!)")


@lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Compile one rubric phrase (see the module docstring) to a pattern over normalised text."""
    if phrase.startswith("re:"):
        try:
            return re.compile(phrase[3:].strip(), re.I)
        except re.error as exc:
            from attn_drill.errors import PackError

            raise PackError(f"Invalid rubric phrase {phrase!r}: {exc}") from None
    normal = normalise(phrase)
    if not normal:
        return _NEVER
    parts: list[str] = []
    first = True
    for token in _TOKEN.findall(normal):
        if token.isspace() or token == "-":
            parts.append(r"[\s\-]*")
            continue
        if re.fullmatch(r"[a-z0-9]+", token):
            piece = _word_pattern(token)
            if first:
                piece = "(?<![a-z0-9])" + piece
        else:
            piece = re.escape(token)
        parts.append(piece)
        first = False
    return re.compile("".join(parts))


# -- negation ----------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(r"[,;:!?。，；：]|\b(?:but|however|whereas|although)\b|但是?|然而|而是")
_EN_NEGATORS = {"not", "no", "never", "nor", "cannot", "neither"}
# 不 but not 不断 (keeps on), 不同 (different), 不稳定 (unstable: a claim, not a denial) ...
_ZH_NEGATOR = re.compile(
    r"不(?!断|同|仅|只|少|稳|均|停|足|止|再|光|过|但)|没有?|未(?!来)|并非|无(?!穷|论|限)"
)
_ZH_WINDOW = 6  # tokens looked at for Chinese negators (one token per character)
# Purpose and consequence: in these clauses a negation is part of the explanation
# ("so that it does not saturate", "防止梯度消失"), unless the purpose itself is denied
# ("it is not there to prevent ...", "并不是为了防止 ...").
_PURPOSE = re.compile(
    r"\b(?:so|such that|in order|prevent\w*|avoid\w*|keep\w*|kept|ensur\w*|make sure|"
    r"otherwise|stop\w*|thus|hence|therefore|which means|guarantee\w*)\b"
    r"|防止|避免|以免|使|让|保证|确保|从而|否则|以便|才|就|不至于|这样"
)
# Conditions: a negated condition is the counterfactual ("if we do not scale, ...", "不缩放时").
_CONDITION = re.compile(r"\b(?:if|unless|when|once|without)\b|如果|若|假如|要是|时|的话")
_NEG_TOKEN = re.compile(rf"[a-z]+(?:'[a-z]+)?|[{_CJK}]")


def _denied(before: str) -> bool:
    """Does a negator sit just before the end of `before` (same clause)?

    English words and Chinese characters form one token sequence, so a word in between
    ("不缩放时 softmax 会饱和") pushes an earlier negator out of the window.
    """
    tokens = _NEG_TOKEN.findall(before)[-_ZH_WINDOW:]
    words = [t for t in tokens[-NEGATION_WINDOW:] if not _CJK_CHAR.match(t)]
    if re.search(r"\bno longer\b|\bnot any ?more\b", " ".join(words)):
        return False  # "no longer saturates": it used to, which is the point
    chinese = "".join(t for t in tokens if _CJK_CHAR.match(t))
    return any(w in _EN_NEGATORS or w.endswith("n't") for w in words) or bool(
        _ZH_NEGATOR.search(chinese)
    )


def _negated(sentence: str, start: int) -> bool:
    """True when the occurrence at `start` is denied (see "Negation" in the module docstring)."""
    prefix = sentence[max(0, start - 160) : start]  # the window is a few tokens; keep it O(1)
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end() :] if breaks else prefix
    purposes = list(_PURPOSE.finditer(clause))
    if purposes and _denied(clause[: purposes[-1].start()]):
        return True
    if purposes or _CONDITION.search(clause):
        return False
    return _denied(clause)


@lru_cache(maxsize=1024)
def _group_pattern(group: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation for a whole group: a sentence is scanned once per group."""
    patterns = [phrase_pattern(p) for p in group]
    try:
        return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.I)
    except re.error:  # e.g. a named group used in two phrases: fall back to the first phrase
        return patterns[0] if patterns else _NEVER


def _group_hits(group: Sequence[str], sents: Sequence[str]) -> set[int]:
    """Indices of the sentences where some phrase of the group occurs, not negated."""
    patterns = [phrase_pattern(p) for p in group]  # validates every phrase (PackError)
    combined = _group_pattern(tuple(group)) if len(patterns) > 1 else patterns[0]
    hits: set[int] = set()
    for index, sentence in enumerate(sents):
        if any(not _negated(sentence, m.start()) for m in combined.finditer(sentence)):
            hits.add(index)
    return hits


def point_evidence(point: RubricPoint, sents: Sequence[str]) -> str | None:
    """The window of sentences that meets the point, or None when it is not met."""
    hits = [_group_hits(group, sents) for group in point.concepts]
    if any(not h for h in hits):
        return None
    for anchor in sorted(hits[0]):
        for start in range(max(0, anchor - WINDOW_SENTENCES + 1), anchor + 1):
            window = range(start, start + WINDOW_SENTENCES)
            if all(any(i in h for i in window) for h in hits[1:]):
                return " ".join(sents[start : start + WINDOW_SENTENCES])
    return None


# -- grading -----------------------------------------------------------------------------

_MESSAGES = {
    "en": {
        "empty": "The answer is empty: write your explanation below the header (text inside "
        "<!-- --> comments is ignored).",
        "template": "Only the template is there: write your explanation in your own words below "
        "the prompts (text inside <!-- --> comments and headings is ignored).",
        "short": "The answer is too short ({count} meaningful characters; at least {need} are "
        "needed) to show the ideas asked for.",
        "required": "Missing a required idea: {labels}.",
        "below": "Score {score:.0%} is below the pass mark of {threshold:.0%}.",
        "passed": "Passed: {score:.0%} of the rubric (pass mark {threshold:.0%}).",
    },
    "zh": {
        "empty": "答案是空的：请在标题行下面写出你的解释（<!-- --> 注释里的文字不计入）。",
        "template": "只有模板：请在提示下方用自己的话写出解释"
        "（<!-- --> 注释和标题里的文字不计入）。",
        "short": "答案太短（有效字符 {count} 个，至少需要 {need} 个），还不足以说明所问的要点。",
        "required": "缺少必需的要点：{labels}。",
        "below": "得分 {score:.0%}，低于及格线 {threshold:.0%}。",
        "passed": "通过：得到评分标准的 {score:.0%}（及格线 {threshold:.0%}）。",
    },
}


def check_rubric(rubric: Rubric) -> list[str]:
    """Problems with a rubric's phrases (bad regular expressions, phrases that normalise to
    nothing); empty when every phrase can match. Used by tests and pack validation."""
    from attn_drill.errors import PackError

    problems: list[str] = []
    for point in rubric.points:
        for number, group in enumerate(point.concepts, start=1):
            if not group:
                problems.append(f"{point.id}: concept group {number} is empty")
            for phrase in group:
                try:
                    pattern = phrase_pattern(phrase)
                except PackError as exc:
                    problems.append(f"{point.id}: {exc.message}")
                    continue
                if pattern is _NEVER:
                    problems.append(f"{point.id}: phrase {phrase!r} is empty once normalised")
    return problems


def grade_answer(text: str, rubric: Rubric, lang: str) -> RubricResult:
    """Grade a free-text answer (English or Chinese; `lang` picks the feedback language)."""
    lang = "zh" if lang == "zh" else "en"
    sents = sentences(text[:MAX_MATCHED_CHARS])
    total = sum(p.weight for p in rubric.points) or 1.0
    points: list[PointResult] = []
    earned = 0.0
    for point in rubric.points:
        evidence = point_evidence(point, sents)
        met = evidence is not None
        earned += point.weight if met else 0.0
        points.append(
            PointResult(
                id=point.id,
                label=point.label.get(lang),
                met=met,
                advice="" if met else point.advice.get(lang),
                weight=point.weight,
                required=point.required,
                evidence=evidence or "",
            )
        )
    score = earned / total
    threshold = rubric.threshold / total
    count = meaningful_chars(text)
    too_short = count < rubric.min_chars
    required_missing = any(p.required and not p.met for p in points)
    passed = not too_short and not required_missing and score >= threshold - 1e-9
    result = RubricResult(
        points=points,
        score=score,
        threshold=threshold,
        passed=passed,
        too_short=too_short,
        message=_verdict_message(text, rubric, points, score, threshold, passed, count, lang),
        earned=earned,
        total=total,
    )
    return replace(result, diagnosis=diagnose(sents, result))


def _verdict_message(
    text: str, rubric: Rubric, points: list[PointResult], score: float, threshold: float,
    passed: bool, count: int, lang: str,
) -> str:
    messages = _MESSAGES[lang]
    required_missing = [p for p in points if p.required and not p.met]
    if count < rubric.min_chars:
        if not _MEANINGFUL.search(unicodedata.normalize("NFKC", text).casefold()):
            return messages["empty"]
        if count == 0:
            return messages["template"]
        return messages["short"].format(count=count, need=rubric.min_chars)
    if required_missing:
        return messages["required"].format(labels="; ".join(p.label for p in required_missing))
    if not passed:
        return messages["below"].format(score=score, threshold=threshold)
    return messages["passed"].format(score=score, threshold=threshold)


# -- misconceptions of explanations of the 1/sqrt(d_k) scale ------------------------------

# Rubric point ids by role, for this pack's explain problem and the quiz's scaling question.
_VARIANCE = {"variance-grows-with-dk", "variance-grows"}
_SATURATION = {"softmax-saturates"}
_GRADIENT = {"vanishing-gradients", "gradients-vanish"}
_UNIT = {"restores-unit-variance", "unit-variance"}

_NORMALISE_WORDS = [
    "normalis", "standardis", "rescal", "stabilis", "stable", "stability", "tidy", "nice range",
    "归一化", "标准化", "规范化", "稳定", "整齐",
]
_OVERFLOW_WORDS = ["overflow", "re:(?<![a-z])(?:inf|nan)(?![a-z])", "infinit", "溢出", "上溢"]


def _mentions(phrases: Iterable[str], sents: Sequence[str]) -> bool:
    return bool(_group_hits(list(phrases), sents))


def diagnose(sents: Sequence[str], result: RubricResult) -> list[str]:
    """Misconception ids recognised in a scaling explanation (empty for other rubrics).

    Ids (listed in explain-sqrt-dk.yaml): `confuses-d-k-with-d-model`, and for answers that
    fail: `variance-without-consequence`, `no-variance-argument`, `overflow-not-saturation`,
    `only-normalises`.
    """
    met = {p.id for p in result.points if p.met}
    ids = {p.id for p in result.points}
    if not ids & (_VARIANCE | _GRADIENT):
        return []
    found: list[str] = []
    if _mentions(["sqrtdmodel", "re:/\\s*dmodel"], sents) and not _mentions(["sqrtdk"], sents):
        found.append("confuses-d-k-with-d-model")
    if result.passed or result.too_short:
        return found
    has_variance = bool(met & (_VARIANCE | _UNIT))
    has_consequence = bool(met & (_SATURATION | _GRADIENT))
    if has_variance and not has_consequence:
        found.append("variance-without-consequence")
    elif has_consequence and not met & _VARIANCE:
        found.append("no-variance-argument")
    if not met & _GRADIENT and _mentions(_OVERFLOW_WORDS, sents):
        found.append("overflow-not-saturation")
    elif not has_variance and not has_consequence and _mentions(_NORMALISE_WORDS, sents):
        found.append("only-normalises")
    return found
