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
   (`. ! ? 。 ！ ？`, list items, headings, table rows). An answer written inside a fenced code
   block (```) is graded too: its comment lines (`# ...`, `// ...`) are read as prose, and
   each other line of code is a sentence of its own, left out of the style check (step 9).
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
7. **Opposites** (`Rubric.contradictions`, data in the rubric's YAML): finding the words of
   an idea is not enough when the answer states the idea the other way round. Each rule
   names the points it contradicts and a `subject` (and optionally a `reverse`) pattern; a
   clause that claims both contradicts those points. explain-sqrt-dk's rules: the variance of
   q·k *decreases* or *stays constant* ("方差随 d_k 变小"), *small* scores make the softmax
   saturate or *large* ones make it *uniform*, the gradients *explode* ("梯度变得很大"), the
   scores are *multiplied* by √d_k ("multiply QKᵀ by √d_k", "乘以根号 d_k"), dividing makes
   the variance grow; the quiz has its own (queries *from the encoder* in cross-attention, a
   mask that lets tokens *see the future*). A claim is a clause (cut at
   punctuation and at and / so / because / which, 所以 / 因为 ...) with both words in it and no
   negation, purpose or contrast before them ("not", "prevent", "instead of", "would", 不会,
   防止, 而不是); clauses about the scaled scores ("after dividing", "除以 √d_k 后", but not
   "without scaling" / "不缩放时") or a small d_k do not count. A contradicted
   point is not met, whatever else the answer says, and the answer fails.
8. **Rejections**: what the answer itself calls wrong is not its claim. A quotation ("...",
   '...', 「...」) is dropped when a rejection word (wrong, nonsense, myth, misconception,
   错误, 不对, 胡说 ...) sits in the same sentence just before or after it; a sentence that
   opens with a verdict on what came before ("that is wrong", "I think this is all nonsense",
   "Nonsense.", "这种说法是错误的", "以上都不对") drops the sentence before it, or every
   earlier sentence of its paragraph when it says "all" / "以上" (of the whole answer when
   that verdict opens a paragraph: "Everything I wrote above is wrong."); a verdict inside a
   sentence ("X, but that is a myth") drops what precedes it in that sentence. "... is not wrong" is
   not a verdict. When an answer fails and the ideas it lacks are in what it rejected, the
   message says so (`RubricResult.rejected`).
9. **Keyword lists** (`keyword_list`): an answer that strings keywords together instead of
   explaining ("variance d_k grows large. softmax saturates one-hot. gradient vanishes tiny.")
   fails even when every idea's words are there. English: under a quarter of glue words
   (articles, prepositions, pronouns, auxiliaries, conjunctions, and arrows like `->`) in
   short sentences or short comma- / semicolon-separated pieces ("variance grows with d_k,
   softmax saturates, gradients vanish, ..."), or mostly glue-less fragments of at most four
   words; Chinese: words separated by spaces ("方差 变大 softmax 饱和") or mostly single words
   between commas ("方差，变大，饱和，梯度，消失"); and an answer
   written mostly in the cells of a Markdown table. Calibrated on the honest answers in
   tests/fixtures/answers, the model answer and the quiz's reference answers (see
   `keyword_list` for the numbers); answers under a dozen English words are not judged.
   Keyword grading has a limit no rule here removes: grammatical sentences assembled from
   the right words ("word salad") can still pass; a human reads answers that matter.
10. **Guards and required ideas** (`Rubric.guards`, `Rubric.require_any`): a guard fails an
   answer that mentions one of its phrases and meets none of its points (explain-sqrt-dk:
   overflow in exp() given as the only consequence, `overflow-only`); `require_any` asks for
   at least one point of each group (the quiz's scaling question: saturation or vanishing
   gradients, so "numerical stability, variance 1" is not enough).
11. **Diagnoses** (`Rubric.diagnoses`): misconception ids recognised from which points are
   met and which phrases occur (see `diagnose`). A quiz rubric with `rules: <problem>` takes
   that problem's contradictions, guards and diagnoses too (`with_rules`).

`score` is the fraction of the total weight earned and `threshold` the same fraction of
`rubric.threshold` (the rubric's threshold is in weight units). `passed` needs
`score >= threshold`, every `required` point and a point of every `require_any` group met, an
answer that is not too short, no contradicted point, not a keyword list and no failed guard.
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

    from attn_drill.problems import Rubric, RubricContradiction, RubricPoint

WINDOW_SENTENCES = 2
MAX_MATCHED_CHARS = 20_000  # ideas are looked for in the first 20k characters (keeps it fast)
NEGATION_WINDOW = 4  # tokens looked at for English negators before a match
CLAIM_LOOKBACK = 120  # characters looked at before a direction word for "not", "prevent" ...


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
    contradicted: bool = False  # the answer states the opposite of this idea (then `met` is false)

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
    met, `too_short` false, no point `contradicted`, not a `keyword_list` and not
    `overflow_only`; `message` says which of these failed, in the requested language;
    `diagnosis` holds misconception ids recognised in the answer (see `diagnose`)."""

    points: list[PointResult]
    score: float  # earned weight / total weight, in [0, 1]
    threshold: float  # rubric.threshold / total weight, in the same unit as `score`
    passed: bool
    too_short: bool
    message: str = ""  # one learner-facing sentence: why it failed, or that it passed
    diagnosis: list[str] = field(default_factory=list)  # misconception ids recognised (see below)
    earned: float = 0.0  # in the rubric's weight units
    total: float = 0.0
    keyword_list: bool = False  # a list of keywords, not an explanation (see `keyword_list`)
    contradicted: list[str] = field(default_factory=list)  # ids of points stated the other way
    overflow_only: bool = False  # a guard of the rubric failed the answer (see `guards`)
    guards: list[str] = field(default_factory=list)  # ids of the rubric's guards that failed it
    # (explain-sqrt-dk: `overflow-only`, overflow in exp() the only consequence given)
    rejected: list[str] = field(default_factory=list)  # ids of points met only in what the
    # answer itself calls wrong (a rejected quotation, a sentence followed by "that is wrong")

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
            "keyword_list": self.keyword_list,
            "contradicted": list(self.contradicted),
            "overflow_only": self.overflow_only,
            "guards": list(self.guards),
            "rejected": list(self.rejected),
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
        # \sum_{i=1}^{d_k} reads "sum of d_k terms"; a bare \sum reads "sum"
        (r"\\sum\s*(?:_\s*(?:\{[^{}]*\}|\w))?\s*\^\s*\{([^{}]*)\}", r" sum of \1 terms ", 0),
        (r"\\sum\s*(?:_\s*(?:\{[^{}]*\}|\w))?\s*\^\s*(\w)", r" sum of \1 terms ", 0),
        (r"\\sum\s*(?:_\s*(?:\{[^{}]*\}|\w))?", " sum ", 0),
        (r"\\mathcal\s*\{?\s*n\s*\}?", "n", 0),
        (r"\\sim(?![a-z])", "~", 0),
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


_BLOCK_START = re.compile(r"^\s*(?:#{1,6}\s|[-+*]\s|\d{1,3}[.)]\s|>|\||\$\$)")
_ORDERED_ITEM = re.compile(r"^\s*\d{1,3}[.)]\s")
_ENDS_UNIT = re.compile(r"[.!?:;。！？：；]\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-+*]|\d{1,3}[.)])\s")
# "i.e." and "e.g." do not end a sentence ("... variance d_k, i.e. d_k times that of a term").
_SENTENCE_END = re.compile(
    r"(?<![^a-z]i\.e\.)(?<![^a-z]e\.g\.)(?<![^a-z]vs\.)(?<![^a-z]cf\.)(?<=[.!?])\s+"
    r"|(?<=[。！？])"
)
_FENCE = re.compile(r"^\s*(?:```|~~~)")
# A comment line inside a code block: `# ...`, `// ...`, `-- ...`, `% ...`, `; ...`.
_CODE_COMMENT = re.compile(r"^\s*(?:#+|//+|--|%+|;+)\s?")


@dataclass(frozen=True)
class _Sentence:
    text: str  # normalised
    paragraph: int  # blank lines and code fences start a new paragraph
    code: bool = False  # a line of code inside a fenced block (not prose)
    table: bool = False  # a row of a Markdown table


@dataclass
class _Block:
    lines: list[str]
    paragraph: int
    code: bool = False
    item: bool = False  # a list item: a following "1." line starts a new block
    table: bool = False  # a Markdown table row ("| a | b |")


def _blocks(folded: str) -> list[_Block]:
    """Paragraphs, list items, headings and table rows of the folded answer.

    Inside a fenced code block (```), comment lines (`# the variance grows ...`) are prose:
    their marker is removed and consecutive ones are joined like a paragraph; every other line
    is code and forms a block of its own, marked `code`.
    """
    blocks: list[_Block] = []
    current: _Block | None = None
    paragraph = 0
    in_fence = False

    def close() -> None:
        nonlocal current
        if current is not None and current.lines:
            blocks.append(current)
        current = None

    for line in folded.splitlines():
        if _FENCE.match(line):
            close()
            in_fence = not in_fence
            paragraph += 1
            continue
        if not line.strip():
            close()
            paragraph += 1
            continue
        if in_fence:
            comment = _CODE_COMMENT.match(line)
            if comment:
                if current is None or current.code:
                    close()
                    current = _Block([], paragraph)
                current.lines.append(line[comment.end() :])
            else:
                close()
                blocks.append(_Block([line], paragraph, code=True))
            continue
        starts_block = bool(_BLOCK_START.match(line))
        if (
            starts_block
            and current is not None
            and not current.item
            and _ORDERED_ITEM.match(line)
            and not _ENDS_UNIT.search(current.lines[-1])
        ):
            # "... back to\n1. Dividing": a wrapped line that happens to start with a number
            starts_block = False
        if starts_block or current is None or current.code:
            close()
            current = _Block(
                [], paragraph, item=bool(_LIST_ITEM.match(line)),
                table=line.lstrip().startswith("|"),
            )
            if starts_block:
                line = _LINE_PREFIX.sub("", line)
        current.lines.append(line)
    close()
    return blocks


def _split(text: str, *, keep_rejected: bool = False) -> list[_Sentence]:
    """The answer as normalised sentences (template prompts and header removed, and what the
    answer itself calls wrong dropped unless `keep_rejected`: see "Rejections" in the module
    docstring)."""
    folded = _fold(strip_template(text))
    if not keep_rejected:
        folded = _drop_rejected_quotes(folded)
    out: list[_Sentence] = []
    for block in _blocks(folded):
        joined = " ".join(block.lines)
        if block.table:
            joined = joined.replace("|", " ; ")  # a cell is a clause of its own
        for piece in _SENTENCE_END.split(joined):
            compact = _compact(piece)
            if compact:
                out.append(_Sentence(compact, block.paragraph, block.code, block.table))
    return out if keep_rejected else _drop_rejected_sentences(out)


def sentences(text: str) -> list[str]:
    """Normalised sentences of an answer (template prompts and header removed)."""
    return [s.text for s in _split(text)]


_MEANINGFUL = re.compile(f"[a-z0-9{_CJK}]")
_HEADING = re.compile(r"^\s*#{1,6}\s")


def meaningful_chars(text: str) -> int:
    """Letters, digits and Chinese characters of the answer, not counting the template's
    comments and header, Markdown headings or markup (a `#` line inside a code block is a
    comment of the answer, not a heading, and counts)."""
    kept: list[str] = []
    in_fence = False
    for line in strip_template(text).splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif in_fence or not _HEADING.match(line):
            kept.append(line)
    return len(_MEANINGFUL.findall(unicodedata.normalize("NFKC", "\n".join(kept)).casefold()))


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


# -- rejections ----------------------------------------------------------------------------

# Words that call a statement wrong. Kept short: these only matter next to a quotation or in
# a sentence that points back at what came before ("that is nonsense").
_REJECT_WORD = re.compile(
    r"\b(?:wrong|nonsense|incorrect|false|myth|misconception|mistaken|bogus|rubbish|untrue|"
    r"fallacy|fallacious|debunk\w*)\b|not true|错误|错的|不对|胡说|胡扯|瞎说|谬误|谬论|误解|"
    r"不正确|不成立|站不住|误区|无稽之谈"
)
_QUOTED = re.compile(
    r"\"([^\"]{12,800})\"|(?<![a-z0-9])'([^']{12,800}?)'(?![a-z0-9])"
    r"|「([^」]{6,800})」|『([^』]{6,800})』"
)
_QUOTE_CONTEXT = 160  # characters looked at on each side of a quotation, within its sentence
_SENTENCE_STOP = re.compile(r"[.!?。！？]\s|[.!?。！？]$|\n\s*\n")


def _rejects(context: str) -> bool:
    """Does `context` call something wrong (a rejection word that is not itself denied)?"""
    return any(not _denied(context[: m.start()]) for m in _REJECT_WORD.finditer(context))


def _drop_rejected_quotes(folded: str) -> str:
    """Blank out quotations that the same sentence calls wrong.

    'A wrong answer I once heard: "the variance grows ..."' quotes an idea in order to reject
    it; the quoted words are not the learner's claim and earn nothing. A quotation counts as
    rejected when a rejection word (wrong, nonsense, myth, 错误, 不对 ...) sits in the text of the
    same sentence just before it or just after it.
    """
    if not _REJECT_WORD.search(folded):
        return folded
    pieces: list[str] = []
    last = 0
    for match in _QUOTED.finditer(folded):
        before = folded[max(0, match.start() - _QUOTE_CONTEXT) : match.start()]
        stops = list(_SENTENCE_STOP.finditer(before))
        before = before[stops[-1].end() :] if stops else before
        after = folded[match.end() : match.end() + _QUOTE_CONTEXT]
        stop = _SENTENCE_STOP.search(after)
        after = after[: stop.start() + 1] if stop else after
        if _rejects(before) or _rejects(after):
            pieces.append(folded[last : match.start()] + " ")
            last = match.end()
    pieces.append(folded[last:])
    return "".join(pieces)


# "That is all nonsense." / "这种说法是错误的。": the sentence rejects what came before it.
_REJECTS_PREVIOUS = re.compile(
    r"(?:^|[^a-z])(?:that|this|these|those|it|all (?:of )?(?:this|that|these|it|the above)|"
    r"the above|everything (?:[a-z']+ ){0,3}?(?:above|before|so far|i said|i wrote)|"
    r"everything (?:above|i said)|such (?:claims?|answers?|explanations?|stories))"
    r"(?:'s|'re|\s+is|\s+are|\s+was|\s+were)\s+"
    r"(?:(?:all|entirely|completely|totally|just|simply|pure|utter|plain|of course)\s+)*"
    r"(?:nonsense|wrong|false|incorrect|a myth|untrue|not true|rubbish|bogus|mistaken|"
    r"a misconception|a fallacy)(?![a-z])(?!\s*(?:to|for|if|when)\b)"  # "it is wrong to ..."
    r"|(?:^|[^a-z])none of (?:this|that|these|it|the above|what i (?:said|wrote))"
    r"(?:\s+[a-z]+)?\s+(?:is|are|was|were|holds?)\s+(?:true|right|correct|valid)(?![a-z])"
    r"|(?:这|这些|这种|这个|以上|上面|上述|前面|前述)[^,.;:!?,。;:!?]{0,6}?"
    r"(?:都|全|完全|根本|纯属|其实|全部|统统|纯粹)?(?:是|就是)?"
    r"(?:错误|错的|不对|胡说|胡扯|瞎说|无稽之谈|不成立|谬论|误解|不正确)"
)
# ... and when it says "all" / "以上", everything before it in its paragraph.
_REJECTS_ALL = re.compile(
    r"\ball\b|everything|the above|\bnone of\b|以上|上面|上述|前面|前述|全部|统统|都"
)


# A sentence that is nothing but a verdict: "Nonsense." / "胡说。"
_REJECTION_ONLY = re.compile(
    r"^(?:(?:that's |that is |all )?(?:nonsense|wrong|false|rubbish|not true|bogus|a myth)|"
    r"错|错误|错的|胡说|胡扯|不对)[.!。]?$"
)
# What may stand before the verdict for it to be about the previous sentence(s).
_VERDICT_LEAD = re.compile(
    r"(?:[\W_]|but|and|so|i think|i believe|i am convinced|i'm convinced|i am sure|i'm sure|"
    r"in my opinion|honestly|however|actually|of course|in fact|frankly|但是|但|其实|我觉得|"
    r"我认为|我确信|我相信|不过|可是|然而)*"
)


def _drop_rejected_sentences(sents: list[_Sentence]) -> list[_Sentence]:
    """Drop what the answer calls wrong ("... . That is all nonsense.").

    A sentence that opens with a verdict on what came before ("that is wrong", "I think this
    is nonsense", "Nonsense.", "这种说法是错误的", "以上都不对") removes the sentence before it,
    or every earlier sentence of its paragraph when it says "all" ("that is all nonsense",
    "以上都是错的"), or of the whole answer when such a verdict opens a paragraph
    ("Everything I wrote above is wrong.", "None of this is true."). A verdict in the
    middle of a sentence ("X, but that is a myth") removes
    the part of that sentence before it. The verdict itself stays: it usually goes on with the
    learner's own view.
    """
    kept = list(sents)
    dropped: set[int] = set()
    for index, sentence in enumerate(sents):
        text = sentence.text
        match = _REJECTS_PREVIOUS.search(text) or _REJECTION_ONLY.match(text)
        if match is None or _denied(text[: match.start() + 1]):
            continue
        if not _VERDICT_LEAD.fullmatch(text[: match.start()]):
            kept[index] = replace(sentence, text=text[match.start() :].lstrip(" ,;:"))
            continue
        if index == 0:
            continue
        dropped.add(index - 1)
        if _REJECTS_ALL.search(match.group(0)):
            # A verdict that opens its paragraph ("Everything above is wrong.") rejects the
            # whole answer so far; inside a paragraph, what that paragraph said.
            opens_paragraph = sents[index - 1].paragraph != sentence.paragraph
            for j in range(index - 2, -1, -1):
                if sents[j].paragraph != sentence.paragraph and not opens_paragraph:
                    break
                dropped.add(j)
    return [s for i, s in enumerate(kept) if i not in dropped]


# -- statements of the opposite ------------------------------------------------------------

# Clauses for the direction checks: punctuation and the conjunctions that join two claims.
_CLAIM_BREAK = re.compile(
    r"[,;:!?()。，；：！？（）]|\b(?:but|however|whereas|although|though|while|and|so|which|"
    r"because|since|therefore|thus|hence)\b|但是?|然而|而是|所以|因此|因为|由于|从而|"
    r"导致|并且|而且|于是"
)
# Before the words that state a direction: these make it a purpose or a contrast, not a claim.
_NOT_A_CLAIM = re.compile(
    r"\b(?:prevent\w*|avoid\w*|stop\w*|keep\w* \w+ from|instead of|rather than|not|no|never|"
    r"without|unlike|would|wouldn't|could)\b|n't\b|防止|避免|以免|免得|不至于|而不是|不是|不会|"
    r"不再|没有|并非|而非|否则"
)


@dataclass(frozen=True)
class _Opposite:
    """A compiled `RubricContradiction` (the rubric's data), looked for clause by clause.

    `subject` and `reverse` (when given) must both occur in one clause, at most `reach`
    characters apart, with no word of `_NOT_A_CLAIM` before either of them in the clause
    (unless `claim_only` is off). A clause that matches `unless`, or whose sentence matches
    `context` up to the clause's end ("after scaling, the variance is small", "for small d_k,
    ..."), is not a contradiction.
    """

    points: frozenset[str]
    subject: re.Pattern[str]
    reverse: re.Pattern[str] | None
    unless: re.Pattern[str] | None = None
    context: re.Pattern[str] | None = None
    reach: int = 48
    reverse_first: bool = False
    claim_only: bool = True


def _joined(pattern: str | list[str] | None) -> str | None:
    if pattern is None:
        return None
    return pattern if isinstance(pattern, str) else "|".join(f"(?:{p})" for p in pattern)


@lru_cache(maxsize=1024)
def _compile_rule_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.I)
    except re.error as exc:
        from attn_drill.errors import PackError

        raise PackError(f"Invalid rubric pattern {pattern!r}: {exc}") from None


def _compiled(rule: RubricContradiction) -> _Opposite:
    def pattern(value: str | list[str] | None) -> re.Pattern[str] | None:
        text = _joined(value)
        return None if text is None else _compile_rule_pattern(text)

    subject = pattern(rule.subject)
    assert subject is not None
    return _Opposite(
        points=frozenset(rule.points),
        subject=subject,
        reverse=pattern(rule.reverse),
        unless=pattern(rule.unless),
        context=pattern(rule.context),
        reach=rule.reach,
        reverse_first=rule.reverse_first,
        claim_only=rule.claim_only,
    )


# "without scaling", "if we don't divide", "before scaling", "不缩放": about the raw scores.
_UNSCALED = re.compile(
    r"(?:\b(?:without|before|no|not|never|don't|doesn't|didn't)|n't|不|未|没有?|之前)"
    r"(?:\s*\w+){0,2}\s*$"
)


def _claimed(clause: str, start: int, rule: _Opposite | None = None) -> bool:
    """Is the word at `start` stated as a claim (no negation, purpose or contrast before it)?

    Only the last `CLAIM_LOOKBACK` characters are looked at, which keeps a run-on clause linear.
    """
    if rule is not None and not rule.claim_only:
        return True
    before = clause[max(0, start - CLAIM_LOOKBACK) : start]
    return not _NOT_A_CLAIM.search(before) and not _denied(before)


# A function's argument, "var(q·k)" or "std(qk^t)", is not an aside: keep it in its clause.
_MATH_ARGUMENT = re.compile(r"\(([^()\s]{1,24})\)")


def _opposite_in(sentence: str, rule: _Opposite) -> bool:
    sentence = _MATH_ARGUMENT.sub(r" \1 ", sentence)
    # Where the sentence first matches `context`: clauses ending after it are exempt
    # ("after scaling, the variance is small"). One search per sentence keeps this linear.
    exempt_from = len(sentence) + 1
    if rule.context is not None:
        for found in rule.context.finditer(sentence):
            if not _UNSCALED.search(sentence[max(0, found.start() - 24) : found.start()]):
                exempt_from = found.end()
                break
    bounds: list[tuple[int, int]] = []
    start = 0
    for brk in _CLAIM_BREAK.finditer(sentence):
        bounds.append((start, brk.start()))
        start = brk.end()
    bounds.append((start, len(sentence)))
    for start, end in bounds:
        if end >= exempt_from:
            return False  # this clause and every later one follow the context
        clause = sentence[start:end]
        if rule.unless is not None and rule.unless.search(clause):
            continue
        subjects = [m for m in rule.subject.finditer(clause) if _claimed(clause, m.start(), rule)]
        if not subjects:
            continue
        if rule.reverse is None:
            return True
        for reverse in rule.reverse.finditer(clause):
            if not _claimed(clause, reverse.start(), rule):
                continue
            for subject in subjects:
                if rule.reverse_first and reverse.start() >= subject.start():
                    continue
                gap = max(reverse.start() - subject.end(), subject.start() - reverse.end())
                if gap <= rule.reach:
                    return True
    return False


def contradictions(rubric: Rubric, point_id: str, sents: Sequence[str]) -> str | None:
    """The first sentence that states the opposite of the rubric point `point_id`, if any.

    The rules are the rubric's data (`Rubric.contradictions`, e.g. for the scaling
    explanation: the variance of q·k *decreasing*, saturation from *small* scores, gradients
    that *explode*, a scale that *multiplies* by √d_k; for cross-attention: queries from the
    encoder). A point no rule names has no opposite.
    """
    rules = [_compiled(rule) for rule in rubric.contradictions if point_id in rule.points]
    if not rules:
        return None
    for sentence in sents:
        if any(_opposite_in(sentence, rule) for rule in rules):
            return sentence
    return None


# -- keyword lists -------------------------------------------------------------------------

# English words that hold a sentence together (articles, prepositions, pronouns, auxiliaries,
# conjunctions). Ordinary prose, even terse, has a third or more of them; a list of keywords
# has few: "variance d_k grows large. softmax saturates one-hot. gradient vanishes tiny."
_GLUE_WORDS = frozenset((
    "a", "an", "the", "this", "that", "these", "those", "each", "every", "all", "some", "any",
    "no", "its", "their", "our", "your", "his", "her", "my", "of", "to", "in", "on", "at", "by",
    "with", "for", "from", "into", "onto", "over", "under", "about", "between", "through",
    "without", "within", "across", "than", "as", "like", "per", "up", "down", "out", "off", "it",
    "they", "we", "you", "i", "he", "she", "them", "us", "one", "itself", "there", "here", "is",
    "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "do", "does", "did",
    "will", "would", "can", "could", "should", "may", "might", "must", "and", "or", "but", "so",
    "because", "since", "if", "when", "then", "thus", "hence", "therefore", "which", "who",
    "whose", "where", "while", "whereas", "although", "though", "not", "only", "also", "too",
    "very", "just", "even", "still", "same", "such", "more", "most", "less", "much", "almost",
    "nearly", "how", "why", "what", "instead",
))
# Comparatives chain ideas like a conjunction does: "bigger d_k, bigger variance, sharper
# softmax, smaller gradients" says what changes with what; a keyword list does not.
_COMPARATIVES = frozenset((
    "bigger", "larger", "smaller", "greater", "higher", "lower", "sharper", "flatter",
    "wider", "narrower", "steeper", "peakier", "tinier", "closer", "fewer", "stronger",
    "weaker", "faster", "slower", "worse", "better",
))
# Symbols that join two ideas like a word would: "big logits -> softmax saturates".
_GLUE_SYMBOLS = re.compile(r"->|=>|→|⇒|⟹|∴|∵|=")
# Tokens that are mathematics, not words (do not count them either way).
_MATH_TOKENS = frozenset((
    "dk", "sqrtdk", "dmodel", "sqrtdmodel", "sqrt", "q", "k", "v", "qk", "t", "exp", "var",
    "std", "e", "p", "i", "j", "x", "z", "s", "n",
))
_EN_WORD = re.compile(r"[a-z]+")
GLUE_MIN_WORDS = 12  # below this many English words the answer is too short to judge its style
GLUE_MIN_SHARE = 0.25  # honest English answers calibrate at 0.33 or more (tests/fixtures/answers)
LIST_MAX_WORDS = 8  # ... in sentences of at most this many words on average (one long terse
# sentence, "variance grows with d_k so softmax saturates and gradients vanish", is not a list)
FRAGMENT_MAX_WORDS = 4  # a "sentence" of at most this many words and no glue is a fragment
FRAGMENT_MAX_SHARE = 0.5  # more than half of the sentences being fragments makes a list
# Chinese is written without spaces between words: spaces between Chinese characters
# ("方差 变大 softmax 饱和 梯度 消失") separate keywords, and so does a long enumeration with
# the enumeration comma ("方差、变大、饱和、梯度、消失").
_ZH_GAP = re.compile(f"[{_CJK}][ \\t]+(?=[{_CJK}])|、")
ZH_MIN_GAPS = 4
ZH_CHARS_PER_GAP = 8  # at most this many Chinese characters per gap on average
# Commas and semicolons (full-width ones are normalised to these) separate the items of a
# list as well as a full stop does: "variance grows; softmax saturates, one-hot; ..."
_PIECE_BREAK = re.compile(r"[,;:]")
LIST_MIN_WORDS = 6  # a comma-separated list is judged from this many English words on
PIECE_MAX_WORDS = 5  # ... with pieces this short on average and few glue words: a list
LIST_MIN_SENTENCE_PIECES = 4  # a sentence cut into this many pieces by commas can be a list
_ONE_HOT = re.compile(r"\bone-hot\b")  # "one" here is no glue word
# A piece that is one word is a keyword: at most this many Chinese characters and no Latin
# text ("方差", "饱和"), or one or two Latin tokens ("softmax", "d_k"); a small clause
# ("梯度消失", "softmax 饱和", "d_k 大", "梯度就越小") is not.
ZH_KEYWORD_MAX_CHARS = 2
_LATIN_TOKEN = re.compile(r"[a-z0-9]+")
_ZH_FUNCTION = re.compile(r"[的了会就越要是在把被让使时而也都则才能可随从对与为所因由若如将]")
ZH_MIN_KEYWORD_PIECES = 4
ZH_KEYWORD_SHARE = 0.6  # more than this share of the pieces being keywords makes a list


def _words_and_glue(piece: str) -> tuple[list[str], int]:
    words = [w for w in _EN_WORD.findall(piece) if w not in _MATH_TOKENS]
    joined = sum(w in _GLUE_WORDS or w in _COMPARATIVES for w in words)
    return words, joined + len(_GLUE_SYMBOLS.findall(piece))


# In a sentence that says what causes what (a causal word), a short piece with one of these
# verbs is a clause, not a keyword: "variance grows with d_k, large scores, softmax
# saturates, gradients vanish, so scale by 1/sqrt(d_k)" is terse but explains. Without the
# causal word, "softmax saturates; gradients vanish; unit variance" stays a list.
_CLAUSE_VERBS = frozenset((
    "grow", "grows", "saturate", "saturates", "vanish", "vanishes", "explode", "explodes",
    "shrink", "shrinks", "increase", "increases", "decrease", "decreases", "become",
    "becomes", "dominate", "dominates", "peak", "peaks", "stay", "stays", "collapse",
    "collapses", "flatten", "flattens", "sharpen", "sharpens", "die", "dies", "stall",
    "stalls", "blow", "blows",
))
_CAUSAL = re.compile(r"\b(?:so|because|therefore|hence|thus|since|which|causing|leading)\b"
                     r"|->|=>|→|⇒")


def _fragment(piece: str, *, causal: bool = False) -> bool:
    """A few English words and no glue: "softmax saturates", "unit variance" (in a causal
    sentence, "softmax saturates" is a clause)."""
    words, joined = _words_and_glue(piece)
    clause = causal and len(words) >= 2 and any(word in _CLAUSE_VERBS for word in words)
    return bool(words) and not joined and not clause and len(words) <= FRAGMENT_MAX_WORDS and (
        not _CJK_CHAR.search(piece)
    )


def _zh_keyword(piece: str) -> bool:
    """One word: "方差", "饱和", "softmax" (not "梯度消失", "d_k 大", "梯度就越小")."""
    _, joined = _words_and_glue(piece)
    chinese = _CJK_CHAR.findall(piece)
    latin = _LATIN_TOKEN.findall(piece)
    return not joined and not _ZH_FUNCTION.search(piece) and (
        (bool(chinese) and not latin and len(chinese) <= ZH_KEYWORD_MAX_CHARS)
        or (not chinese and 1 <= len(latin) <= 2)
    )


def _list_sentence_words(prose: Sequence[str]) -> int:
    """English words in sentences that are comma-separated lists: at least
    `LIST_MIN_SENTENCE_PIECES` pieces, and either few glue words in short pieces (at most
    `PIECE_MAX_WORDS` words each on average) or mostly glue-less fragments."""
    total = 0
    for sentence in prose:
        parts = [p for p in _PIECE_BREAK.split(sentence) if p.strip()]
        if len(parts) < LIST_MIN_SENTENCE_PIECES:
            continue
        counted = [_words_and_glue(p) for p in parts]
        words = sum(len(w) for w, _ in counted)
        glue = sum(g for _, g in counted)
        terse = glue < GLUE_MIN_SHARE * words and words <= PIECE_MAX_WORDS * len(parts)
        causal = bool(_CAUSAL.search(sentence))
        fragmented = sum(_fragment(p, causal=causal) for p in parts) > (
            FRAGMENT_MAX_SHARE * len(parts)
        )
        if terse or fragmented:
            total += words
    return total


def _keyword_table(sents: Sequence[_Sentence], all_words: int) -> bool:
    """Most of the answer sits in Markdown table cells, and most cells are keywords."""
    cells = [
        c for s in sents if s.table for c in s.text.split(";")
        if _EN_WORD.search(c) or _CJK_CHAR.search(c)
    ]
    table_words = sum(len(_EN_WORD.findall(c)) + len(_CJK_CHAR.findall(c)) for c in cells)
    if not cells or table_words * 2 <= all_words:
        return False
    keywords = sum(
        _fragment(c) or _zh_keyword(c) or _short_zh_cell(c) for c in cells
    )
    return keywords * 2 > len(cells)


def _short_zh_cell(cell: str) -> bool:
    chinese = _CJK_CHAR.findall(cell)
    return bool(chinese) and len(chinese) <= 4 and len(_LATIN_TOKEN.findall(cell)) <= 1 and not (
        _ZH_FUNCTION.search(cell)
    )


def keyword_list(text: str, sents: Sequence[_Sentence] | None = None) -> bool:
    """Is the answer a list of keywords rather than an explanation?

    Deliberately simple signals, calibrated on the honest answers in tests/fixtures/answers,
    the reference answers of the quiz and the model answer (none of which trips them):

    - English (more English words than Chinese characters / 2, at least `GLUE_MIN_WORDS`
      words): fewer than `GLUE_MIN_SHARE` of the words are glue words (`_GLUE_WORDS`; the
      arrows `->`, `=>`, `→` and `=` count as glue) and the sentences are short (at most
      `LIST_MAX_WORDS` words on average), or more than `FRAGMENT_MAX_SHARE` of its three or
      more sentences are fragments (at most `FRAGMENT_MAX_WORDS` words, no glue; comparatives
      such as "bigger" count as glue); or most of its words (at least `LIST_MIN_WORDS`) sit
      in sentences cut by commas or semicolons into `LIST_MIN_SENTENCE_PIECES` or more pieces
      that are short and glue-poor or mostly fragments;
    - Chinese: at least `ZH_MIN_GAPS` spaces between two Chinese characters or enumeration
      commas (、), one for every `ZH_CHARS_PER_GAP` Chinese characters or fewer (honest
      answers have at most three); or at least `ZH_MIN_KEYWORD_PIECES` pieces between commas
      that are single words ("方差，增大，饱和"), more than `ZH_KEYWORD_SHARE` of all pieces;
    - a Markdown table holding most of the answer's words, whose cells are mostly keywords.

    Lines of code inside a fenced block are not prose and are left out.
    """
    if sents is None:
        sents = _split(text)
    prose = [_ONE_HOT.sub("onehot", s.text) for s in sents if not s.code]
    pieces = [p for sentence in prose for p in _PIECE_BREAK.split(sentence) if p.strip()]
    english = 0
    glue = 0
    for sentence in prose:
        words, joined = _words_and_glue(sentence)
        english += len(words)
        glue += joined
    fragments = sum(_fragment(sentence) for sentence in prose)
    zh_keywords = sum(_zh_keyword(piece) for piece in pieces)
    chinese = len(_CJK_CHAR.findall(" ".join(prose)))
    if _keyword_table(sents, english + chinese):
        return True
    if english * 2 > chinese:
        if english >= GLUE_MIN_WORDS:
            if glue < GLUE_MIN_SHARE * english and english <= LIST_MAX_WORDS * len(prose):
                return True
            if len(prose) >= 3 and fragments > FRAGMENT_MAX_SHARE * len(prose):
                return True
        if english >= LIST_MIN_WORDS and _list_sentence_words(prose) * 2 > english:
            return True  # "variance grows with d_k，softmax saturates，gradients vanish，..."
    if (
        chinese >= english
        and zh_keywords >= ZH_MIN_KEYWORD_PIECES
        and zh_keywords > ZH_KEYWORD_SHARE * len(pieces)
    ):
        return True
    if chinese and chinese >= english:
        body = strip_template(text)
        body = "\n".join(
            line
            for line in body.splitlines()
            if not _HEADING.match(line) and not _FENCE.match(line)
        )
        gaps = len(_ZH_GAP.findall(unicodedata.normalize("NFKC", body)))
        if gaps >= ZH_MIN_GAPS and gaps * ZH_CHARS_PER_GAP >= chinese:
            return True
    return False


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
        "keywords": "This reads like a list of keywords, not an explanation: write full "
        "sentences that say what causes what.",
        "opposite": "The answer states the opposite of a key idea ({labels}): check the "
        "direction of each effect.",
        "rejected": "The answer calls wrong, or quotes only to reject, ideas it needs ({labels}): "
        "what an answer rejects does not count as its explanation.",
        "below": "Score {score:.0%} is below the pass mark of {threshold:.0%}.",
        "passed": "Passed: {score:.0%} of the rubric (pass mark {threshold:.0%}).",
    },
    "zh": {
        "empty": "答案是空的：请在标题行下面写出你的解释（<!-- --> 注释里的文字不计入）。",
        "template": "只有模板：请在提示下方用自己的话写出解释"
        "（<!-- --> 注释和标题里的文字不计入）。",
        "short": "答案太短（有效字符 {count} 个，至少需要 {need} 个），还不足以说明所问的要点。",
        "required": "缺少必需的要点：{labels}。",
        "keywords": "这更像是一串关键词，而不是解释：请用完整的句子说明什么导致了什么。",
        "opposite": "答案把要点说反了（{labels}）：请检查每个因果关系的方向。",
        "rejected": "答案把需要的要点说成是错的，或者引用它们只是为了否定（{labels}）："
        "被答案自己否定的内容不算作解释。",
        "below": "得分 {score:.0%}，低于及格线 {threshold:.0%}。",
        "passed": "通过：得到评分标准的 {score:.0%}（及格线 {threshold:.0%}）。",
    },
}


def check_rubric(rubric: Rubric) -> list[str]:
    """Problems with a rubric's phrases and patterns (bad regular expressions in points,
    contradictions, guards and diagnoses; phrases that normalise to nothing); empty when
    every one can match. Used by tests and pack validation."""
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
    for number, rule in enumerate(rubric.contradictions, start=1):
        try:
            _compiled(rule)
        except PackError as exc:
            problems.append(f"contradictions {number}: {exc.message}")
    for entry in [*rubric.guards, *rubric.diagnoses]:
        for phrase in [*entry.mentions, *getattr(entry, "mentions_none", [])]:
            try:
                phrase_pattern(phrase)
            except PackError as exc:
                problems.append(f"{entry.id}: {exc.message}")
    return problems


def grade_answer(text: str, rubric: Rubric, lang: str) -> RubricResult:
    """Grade a free-text answer (English or Chinese; `lang` picks the feedback language)."""
    lang = "zh" if lang == "zh" else "en"
    rubric = with_rules(rubric)
    parsed = _split(text[:MAX_MATCHED_CHARS])
    sents = [s.text for s in parsed]
    total = sum(p.weight for p in rubric.points) or 1.0
    points: list[PointResult] = []
    earned = 0.0
    for point in rubric.points:
        opposite = contradictions(rubric, point.id, sents) is not None
        evidence = None if opposite else point_evidence(point, sents)
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
                contradicted=opposite,
            )
        )
    score = earned / total
    threshold = rubric.threshold / total
    count = meaningful_chars(text)
    too_short = count < rubric.min_chars
    keywords = not too_short and keyword_list(text[:MAX_MATCHED_CHARS], parsed)
    guards = _failed_guards(rubric, points, sents)
    passed = (
        not too_short
        and not keywords
        and not guards
        and not any(p.contradicted for p in points)
        and not _required_missing(rubric, points)
        and score >= threshold - 1e-9
    )
    result = RubricResult(
        points=points,
        rejected=[] if passed else _met_only_in_rejected(text, rubric, points, sents),
        score=score,
        threshold=threshold,
        passed=passed,
        too_short=too_short,
        earned=earned,
        total=total,
        keyword_list=keywords,
        contradicted=[p.id for p in points if p.contradicted],
        overflow_only=bool(guards),
        guards=guards,
    )
    message = _verdict_message(text, rubric, result, count, lang)
    return replace(result, message=message, diagnosis=diagnose(rubric, sents, result))


def _required_missing(rubric: Rubric, points: Sequence[PointResult]) -> list[str]:
    """Labels of what a passing answer must still say: each unmet `required` point, and for
    each `require_any` group with no point met, its labels joined by " / "."""
    met = {p.id for p in points if p.met}
    labels = {p.id: p.label for p in points}
    missing = [p.label for p in points if p.required and not p.met]
    for group in rubric.require_any:
        present = [i for i in group if i in labels]
        if present and not met & set(present):
            missing.append(" / ".join(labels[i] for i in present))
    return missing


def _met_only_in_rejected(
    text: str, rubric: Rubric, points: Sequence[PointResult], sents: Sequence[str]
) -> list[str]:
    """Ids of the points that would be met if what the answer calls wrong were kept."""
    folded = _fold(text[:MAX_MATCHED_CHARS])
    if not _REJECT_WORD.search(folded) and not _REJECTS_PREVIOUS.search(folded):
        return []
    kept = [s.text for s in _split(text[:MAX_MATCHED_CHARS], keep_rejected=True)]
    if kept == list(sents):
        return []
    return [
        result.id
        for result, point in zip(points, rubric.points, strict=True)
        if not result.met and not result.contradicted and point_evidence(point, kept) is not None
    ]


def _failed_guards(
    rubric: Rubric, points: Sequence[PointResult], sents: Sequence[str]
) -> list[str]:
    """Ids of the rubric's guards that fail this answer: one of the guard's phrases occurs
    and none of its `met_none` points is met (e.g. overflow given as the only consequence)."""
    met = {p.id for p in points if p.met}
    return [
        guard.id
        for guard in rubric.guards
        if not met & set(guard.met_none) and _mentions(guard.mentions, sents)
    ]


def _verdict_message(
    text: str, rubric: Rubric, result: RubricResult, count: int, lang: str
) -> str:
    messages = _MESSAGES[lang]
    if result.too_short:
        if not _MEANINGFUL.search(unicodedata.normalize("NFKC", text).casefold()):
            return messages["empty"]
        if count == 0:
            return messages["template"]
        return messages["short"].format(count=count, need=rubric.min_chars)
    if result.keyword_list:
        return messages["keywords"]
    contradicted = [p for p in result.points if p.contradicted]
    if contradicted:
        return messages["opposite"].format(labels="; ".join(p.label for p in contradicted))
    rejected = [p for p in result.points if p.id in result.rejected]
    if rejected:
        return messages["rejected"].format(labels="; ".join(p.label for p in rejected))
    for guard in rubric.guards:
        if guard.id in result.guards:
            return guard.message.get(lang)
    required_missing = _required_missing(rubric, result.points)
    if required_missing:
        return messages["required"].format(labels="; ".join(required_missing))
    if not result.passed:
        return messages["below"].format(score=result.score, threshold=result.threshold)
    return messages["passed"].format(score=result.score, threshold=result.threshold)


# -- misconceptions -------------------------------------------------------------------------


def _mentions(phrases: Iterable[str], sents: Sequence[str]) -> bool:
    phrases = list(phrases)
    return bool(phrases) and bool(_group_hits(phrases, sents))


def diagnose(rubric: Rubric, sents: Sequence[str], result: RubricResult) -> list[str]:
    """Misconception ids recognised in an answer, from the rubric's `diagnoses` (data).

    Entries are tried in order; an entry applies when every condition it gives holds: the
    answer failed (unless `when: always`), no point was contradicted (unless
    `on_contradiction`), some of `met_any` and none of `met_none` met, some phrase of
    `mentions` and none of `mentions_none` found, its `guard` failed the answer, and none of
    the ids in `unless` was diagnosed by an earlier entry. Each id is reported once.
    """
    met = {p.id for p in result.points if p.met}
    found: list[str] = []
    for entry in rubric.diagnoses:
        if entry.id in found:
            continue
        if entry.when == "failed" and (result.passed or result.too_short):
            continue
        if result.contradicted and not entry.on_contradiction:
            continue
        if entry.met_any and not met & set(entry.met_any):
            continue
        if met & set(entry.met_none):
            continue
        if entry.guard is not None and entry.guard not in result.guards:
            continue
        if any(i in found for i in entry.unless):
            continue
        if entry.mentions and not _mentions(entry.mentions, sents):
            continue
        if _mentions(entry.mentions_none, sents):
            continue
        found.append(entry.id)
    return found


# -- rules shared with a problem's rubric --------------------------------------------------


def with_rules(rubric: Rubric, problems: dict[str, Any] | None = None) -> Rubric:
    """`rubric` with the contradictions, guards and diagnoses of the problem its `rules`
    names (a quiz question explaining the same idea as an explain problem); unchanged when it
    names none. `problems` defaults to the packs in use; an unknown id is a `PackError`."""
    if rubric.rules is None:
        return rubric
    if problems is None:
        from attn_drill.problems import pack_problems

        problems = pack_problems()
    source = problems.get(rubric.rules)
    if source is None or source.rubric is None:
        from attn_drill.errors import PackError

        raise PackError(f"rubric rules: {rubric.rules!r} is not a problem with a rubric")
    shared = with_rules(source.rubric, problems)
    return rubric.model_copy(
        update={
            "rules": None,
            "contradictions": [*shared.contradictions, *rubric.contradictions],
            "guards": [*shared.guards, *rubric.guards],
            "diagnoses": [*shared.diagnoses, *rubric.diagnoses],
        }
    )
