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
    # -- shared pieces ------------------------------------------------------------------------
    "case.reason": ("case '{case}': {reason}", "用例「{case}」：{reason}"),
    "case.output.reason": ("case '{case}', {output}: {reason}",
                           "用例「{case}」，{output}：{reason}"),
    "output.reason": ("`{output}`: {reason}", "`{output}`: {reason}"),
    "output.eval": ("`{output}` (eval mode)", "`{output}`（eval 模式）"),
    "mismatch.summary": (
        "Mismatched elements: {mismatched} / {total} ({percent:.1f}%); max abs diff "
        "{max_abs:.3g}, max rel diff {max_rel:.3g} (rtol={rtol:g}, atol={atol:g} for {dtype})",
        "不匹配的元素：{mismatched} / {total}（{percent:.1f}%）；最大绝对误差 {max_abs:.3g}，"
        "最大相对误差 {max_rel:.3g}（{dtype} 的容差 rtol={rtol:g}，atol={atol:g}）",
    ),
    # -- learner errors (by LearnerError kind) ------------------------------------------------
    "error.timeout": (
        "stopped after {timeout:g} s (the limit for all cases together): an endless loop, or "
        "far too slow",
        "运行超过 {timeout:g} 秒（所有用例合计的时限）被终止：可能是死循环，或者太慢",
    ),
    "error.memory": ("ran out of memory: {message}", "内存超出限制：{message}"),
    "error.process-limit": ("started too many processes or threads: {message}",
                            "启动了过多的进程或线程：{message}"),
    "error.exited": ("ended before returning a result (sys.exit / os._exit?): {message}",
                     "在返回结果之前就结束了（sys.exit / os._exit？）：{message}"),
    "error.crashed": ("the Python process crashed: {message}", "Python 进程崩溃了：{message}"),
    "error.bad-output": ("returned something that cannot be graded: {message}",
                         "返回了无法评分的内容：{message}"),
    # -- check names --------------------------------------------------------------------------
    "check.defines": ("defines {signature}", "定义了 {signature}"),
    "check.runs": ("runs on every case without errors", "所有用例运行无错误"),
    "check.type": ("returns {want}", "返回 {want}"),
    "check.type.tuple": ("returns a tuple ({outputs}) of {want}",
                         "返回 {want} 组成的元组 ({outputs})"),
    "check.shape": ("output shapes", "输出形状"),
    "check.dtype": ("floating-point result dtype", "结果为浮点类型"),
    "check.match.fixed": ("matches reference (fixed cases)", "与参考答案一致（固定用例）"),
    "check.match.random": ("matches reference (random, seed {seed})",
                           "与参考答案一致（随机用例，种子 {seed}）"),
    "check.forbidden": ("does not use a forbidden built-in", "不使用被禁止的内置实现"),
    # -- check messages -----------------------------------------------------------------------
    "check.not-run.unloaded": ("not run: the file could not be loaded", "未运行：文件无法加载"),
    "check.not-run.raised": (
        "not checked on {count} case{plural} where your code raised (first: '{first}')",
        "有 {count} 个用例你的代码抛出了异常，无法检查（第一个：「{first}」）",
    ),
    "check.not-run.no-result": ("not checked: no case returned a result",
                                "未检查：没有任何用例返回结果"),
    "defines.syntax": ("the file has a syntax error", "文件有语法错误"),
    "defines.import": ("importing the file failed", "导入文件失败"),
    "defines.missing-name": ("the file does not define `{entry}`", "文件中没有定义 `{entry}`"),
    "defines.load-failed": ("{lead}: {detail}", "{lead}: {detail}"),
    "defines.signature": ("incompatible signature: {problem}; expected `{signature}`",
                          "签名不兼容：{problem}；应为 `{signature}`"),
    "forbidden.line": ("line {line} uses {name}", "第 {line} 行使用了 {name}"),
    "forbidden.runtime": ("{name} was called at run time", "运行时调用了 {name}"),
    "forbidden.used": ("This problem asks you to write it yourself: {names} is not allowed.",
                       "这道题要你自己实现，不能调用 {names}。"),
    "runs.no-result": ("no result came back", "没有返回结果"),
    "runs.more": (" (and {count} more cases)", "（另有 {count} 个用例）"),
    "type.wrong-kind": ("`{output}` is {shown}, expected {want}",
                        "`{output}` 是 {shown}，应为 {want}"),
    "advice.numpy.list": (
        "returned a Python list; return a NumPy array (build the result with NumPy operations, "
        "or np.asarray at the end)",
        "返回了 Python 列表；请返回 NumPy 数组（用 NumPy 运算得到结果，或最后用 np.asarray 转换）",
    ),
    "advice.numpy.tuple": ("returned a tuple where an array was expected",
                           "在应返回数组的位置返回了元组"),
    "advice.numpy.tensor": ("returned a torch.Tensor; the NumPy track expects np.ndarray",
                            "返回了 torch.Tensor；NumPy 赛道要求返回 np.ndarray"),
    "advice.numpy.scalar": ("returned a single number, not an array", "返回了单个数字，而不是数组"),
    "advice.torch.ndarray": (
        "returned a NumPy array; the torch track expects torch.Tensor (stay in torch so "
        "gradients can flow)",
        "返回了 NumPy 数组；torch 赛道要求返回 torch.Tensor（全程使用 torch，梯度才能回传）",
    ),
    "advice.torch.list": ("returned a Python list; return a torch.Tensor",
                          "返回了 Python 列表；请返回 torch.Tensor"),
    "advice.torch.tuple": ("returned a tuple where a tensor was expected",
                           "在应返回张量的位置返回了元组"),
    "advice.torch.scalar": ("returned a single number, not a tensor", "返回了单个数字，而不是张量"),
    "advice.numpy.other:generator": (
        "returned a generator: a `yield` in the function makes it one; build the whole result "
        "and `return` the array",
        "返回了生成器：函数里的 `yield` 会让它变成生成器；请算出完整结果，再用 `return` 返回数组",
    ),
    "advice.torch.other:generator": (
        "returned a generator: a `yield` in the function makes it one; build the whole result "
        "and `return` the tensor",
        "返回了生成器：函数里的 `yield` 会让它变成生成器；请算出完整结果，再用 `return` 返回张量",
    ),
    "shape.wrong": (
        "case '{case}' ({inputs}): {output} has shape {got}, expected {expected}",
        "用例「{case}」（{inputs}）：{output} 的形状是 {got}，应为 {expected}",
    ),
    "dtype.not-float": (
        "case '{case}': `{output}` has dtype {dtype}; return float64 (or float32) values",
        "用例「{case}」：`{output}` 的 dtype 是 {dtype}；请返回 float64（或 float32）",
    ),
    "dtype.judged": ("{dtypes} results are judged with {judged} tolerances",
                     "{dtypes} 结果按 {judged} 的容差评判"),
    "unreadable.bfloat16": (
        "{output} is a bfloat16 tensor, which is not accepted (like float16): return {want}",
        "{output} 是 bfloat16 张量，不被接受（与 float16 一样）：请返回 {want}",
    ),
    "unreadable.dtype": ("{output} has dtype {dtype}, not numbers: return {want} values",
                         "{output} 的 dtype 是 {dtype}，不是数值：请返回 {want}"),
    "unreadable.not-numeric": (
        "{output} could not be read as numbers (dtype not numeric): return {want} values",
        "{output} 无法读取为数值（dtype 不是数值类型）：请返回 {want}",
    ),
    "match.nonfinite": ("; your output contains {nan} NaN and {inf} inf values",
                        "；你的输出含有 {nan} 个 NaN 和 {inf} 个 inf"),
    "match.wrong-shape": ("case '{case}': wrong shape (see the shape check)",
                          "用例「{case}」：形状不对（见形状检查）"),
    "match.unreadable": ("{output} could not be read as numbers", "{output} 无法读取为数值"),
    "match.no-result": ("no result", "没有结果"),
    "match.count": (" ({failed} of {total} cases fail)", "（{total} 个用例中 {failed} 个未通过）"),
    # -- text answers -------------------------------------------------------------------------
    "text.length": ("answer is long enough to grade", "答案长度足以评分"),
    "text.too-short": ("write at least {chars} characters explaining your reasoning",
                       "请至少写 {chars} 个字符来解释你的推理"),
    "text.missing": ("missing: {advice}", "缺少：{advice}"),
    "text.threshold": ("covers enough of the key ideas", "覆盖了足够多的要点"),
    "text.score": ("score {score:.0%}, {threshold:.0%} needed",
                   "得分 {score:.0%}，需要 {threshold:.0%}"),
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
    "property.preserves-norm": ("keeps the norm of every row (a rotation)",
                                "保持每一行的范数不变（旋转）"),
    "property.relative-position": ("dot products depend only on the position difference",
                                   "点积只取决于位置之差"),
    "property.reads-blocks-once": ("reads the iterator of blocks once, to the end",
                                   "把块的迭代器从头到尾读且只读一遍"),
    "property.bounded-memory": ("memory stays below a quarter of all keys and values",
                                "内存占用低于全部键和值的四分之一"),
    "preserves-norm.changed": (
        "row {row}: |x| = {before:.6g} but |{output}| = {after:.6g} ({bad} of {rows} rows "
        "change length): a rotation keeps every row's length",
        "第 {row} 行：|x| = {before:.6g}，但 |{output}| = {after:.6g}（{rows} 行中有 {bad} 行"
        "长度改变）：旋转不会改变每一行的长度",
    ),
    "relative-position.no-result": (
        "could not be checked: case '{case}' did not return a result",
        "无法检查：用例「{case}」没有返回结果",
    ),
    "relative-position.changed": (
        "adding {shift} to every position of case '{case}' changed the dot products between "
        "rows of `{output}`: with a rotation by position · frequency, q_i · k_j depends only "
        "on the difference of their positions",
        "把用例「{case}」的每个位置都加上 {shift} 后，`{output}` 各行之间的点积变了：按 "
        "位置 · 频率 旋转时，q_i · k_j 只取决于两者位置之差",
    ),
    "blocks.reread-raised": (
        "`{argument}` was iterated again after it was used up, and the call then failed (see "
        "the run check)",
        "`{argument}` 用完之后又被遍历了一次，随后调用失败（见运行检查）",
    ),
    "blocks.reread": (
        "`{argument}` was iterated again after it was used up ({passes} passes): a one-shot "
        "iterator yields nothing the second time, so a second pass (max first, then the sums) "
        "sees no blocks",
        "`{argument}` 用完之后又被遍历了一次（共 {passes} 遍）：一次性迭代器第二次什么也不会"
        "给出，所以第二遍（先求最大值、再求和）看不到任何块",
    ),
    "blocks.partly-read": (
        "only {read} of the {total} blocks of `{argument}` were read: every block holds keys "
        "the answer depends on",
        "`{argument}` 的 {total} 个块只读了 {read} 个：每个块里都有答案依赖的键",
    ),
    "memory.tracing-stopped": (
        "memory tracing was switched off during the call, so the memory use could not be "
        "measured",
        "调用期间内存跟踪被关闭了，无法测量内存用量",
    ),
    "memory.over-budget": (
        "the call used up to {peak} at once; the budget is {budget}, a quarter of all keys "
        "and values ({total}). A full ({n}, {m}) score matrix alone takes {scores}: keep one "
        "block, the running maximum, the running sum and the output accumulator, nothing more",
        "调用期间同时占用了最多 {peak}；预算是 {budget}，即全部键和值（{total}）的四分之一。"
        "单是一个完整的 ({n}, {m}) 分数矩阵就要 {scores}：只保留当前块、运行中的最大值、"
        "运行中的和以及输出累加器",
    ),
    "integers.advice": (
        " ({names} arrive as int64; convert before mixing with floats, e.g. `{convert}`)",
        "（{names} 是 int64；与浮点数混合运算前先转换，例如 `{convert}`）",
    ),
    # -- property messages --------------------------------------------------------------------
    "no-mutation.changed": (
        "`{input}` was changed in place (case '{case}'); compute into new {fresh}",
        "`{input}` 被原地修改了（用例「{case}」）；请把结果写到新{fresh}里",
    ),
    "fresh.arrays": ("arrays", "数组"),
    "fresh.tensors": ("tensors", "张量"),
    "sums-to-one.off": (
        "case '{case}': `{output}` sums to {value:.6g} along axis {axis} at index {index} "
        "({bad} of {size} slices are off)",
        "用例「{case}」：`{output}` 沿轴 {axis} 在索引 {index} 处之和为 {value:.6g}"
        "（{size} 个切片中有 {bad} 个不为 1）",
    ),
    "derived.no-source": ("could not be checked: case '{case}' did not return a result",
                          "无法检查：用例「{case}」没有返回结果"),
    "permutation.changed": (
        "reordering the tokens of case '{case}' changed `{output}` by more than reordering it: "
        "attention must not depend on token positions",
        "打乱用例「{case}」中 token 的顺序后，`{output}` 的变化不只是顺序改变："
        "注意力不应依赖 token 的位置",
    ),
    "causal.leak": (
        "changing token{plural} {tokens} of case '{case}' (one at a time) changed `{output}` at "
        "earlier positions {rows}: position i may only attend to j ≤ i",
        "逐个修改用例「{case}」中的第 {tokens} 个 token，`{output}` 在更早的位置 {rows} "
        "也变了：位置 i 只能关注 j ≤ i",
    ),
    "gradients.case": ("case '{case}', gradient of `{input}`: {reason}",
                       "用例「{case}」，`{input}` 的梯度：{reason}"),
    "gradients.not-run": ("not run: no case returned a result", "未运行：没有任何用例返回结果"),
    "gradients.backward-raised": ("backward raised on case '{case}': {error}",
                                  "用例「{case}」的反向传播出错：{error}"),
    "gradients.backward-inplace": (
        " (forward changed a tensor in place that autograd still needed: compute new tensors "
        "instead of editing x, the mask or intermediate results in place)",
        "（forward 原地修改了自动求导仍需要的张量：请生成新张量，不要原地修改 x、掩码或中间结果）",
    ),
    "gradients.unused": ("forward never uses {names}, so no gradient can reach {them}",
                         "forward 从未用到 {names}，所以梯度无法传到这里"),
    "gradients.detached": (
        "no gradient reached {names} although forward uses {them}: something detaches the "
        "graph (.detach(), .numpy(), torch.no_grad(), new tensors from .data)",
        "forward 用到了 {names}，梯度却没有传到：某处切断了计算图（.detach()、.numpy()、"
        "torch.no_grad()、用 .data 新建张量）",
    ),
    "gradients.missing": (
        "no gradient reached {names}: something detaches the graph (.detach(), .numpy(), "
        "torch.no_grad(), new tensors from .data)",
        "梯度没有传到 {names}：某处切断了计算图（.detach()、.numpy()、torch.no_grad()、用 .data "
        "新建张量）",
    ),
    "gradients.no-backward": ("the backward pass did not run", "反向传播没有运行"),
    "join.semicolon": ("{first}; {second}", "{first}; {second}"),
    # -- property diagnoses -------------------------------------------------------------------
    "batch-dims.numbers-differ": (
        "the cases without batch axes pass, but the batched ones give different numbers: check "
        "that every batch element is computed from its own inputs (its own queries, keys and "
        "values), and that axes are counted from the end",
        "没有批次轴的用例都通过了，但带批次轴的用例结果不同：请检查每个批次元素是否只用它自己的输入"
        "（自己的查询、键和值）计算，以及轴是否从末尾数起",
    ),
    "batch-dims.transpose": (
        ". With a batch dimension `K.T` reverses every axis ((b, m, d) becomes (d, m, b)); use "
        "np.swapaxes(K, -1, -2) or K.transpose(-2, -1), and count axes from the end (axis=-1)",
        "。有批量维度时 `K.T` 会把所有轴都倒过来（(b, m, d) 变成 (d, m, b)）；请用 "
        "np.swapaxes(K, -1, -2) 或 K.transpose(-2, -1)，并从末尾数轴（axis=-1）",
    ),
    "stability.masked-nan": (
        "only cases whose hidden keys score far above the visible ones give NaN: a row maximum "
        "taken over the masked keys too (then multiplying by the mask) underflows every visible "
        "key to 0, and 0/0 is NaN. Fill the masked scores with -inf before taking the maximum. ",
        "只有被遮住的键分数远高于可见键的用例出现了 NaN：如果每行的最大值也算上了被遮住的键（之后再"
        "乘以掩码），所有可见键的 exp 都会下溢为 0，0/0 得到 NaN。请先把被遮住的分数填成 -inf，再取"
        "最大值。",
    ),
    "stability.large-scores": (
        "your answer is right for ordinary scores but wrong when one row holds very large or "
        "very negative, different scores (e.g. [1000, 999, 0] or [-1000, -999, -1001]): "
        "clipping the scores, or subtracting a maximum other than that row's own, changes the "
        "softmax. ",
        "普通分数下你的结果正确，但当同一行里有很大或很负且互不相同的分数（如 [1000, 999, 0] 或 "
        "[-1000, -999, -1001]）时就错了：截断分数，或减去的不是该行自己的最大值，都会改变 softmax "
        "的结果。",
    ),
    "mask.ignored": ("your output equals attention without the mask; rows that should differ: "
                     "{rows}", "你的输出与不加掩码时完全相同；本应不同的行：{rows}"),
    "mask.inverted": (
        "your output equals attention with the mask inverted (True must mean \"may attend\")",
        "你的输出与把掩码取反后的结果相同（True 表示“可以关注”）",
    ),
    "mask.rows-differ": (
        "with the mask, these rows differ from the reference: {rows}. Check that the mask is "
        "applied as given to every query row and batch element (how it broadcasts), before the "
        "softmax.",
        "加上掩码后，这些行与参考结果不同：{rows}。请检查掩码是否按原样作用到每一个查询行和每一个"
        "批次元素（注意广播方式），并且在 softmax 之前。",
    ),
    "mask.tiny-fill": (
        "masked positions get the weight a score of about 0 would get, as with a fill like "
        "-1e-12; rows: {rows}",
        "被掩码的位置得到的权重和分数约为 0 时一样，就像用 -1e-12 这类值填充；涉及的行：{rows}",
    ),
    "mask.leak.weak": (
        "positions where the mask is False still get weight (up to {largest:.3g}) in rows: "
        "{rows}. That is what a fill value that is not negative enough gives: use -inf or -1e9.",
        "掩码为 False 的位置仍然得到了权重（最大 {largest:.3g}），涉及的行：{rows}。"
        "填充值不够负时就会这样：请用 -inf 或 -1e9。",
    ),
    "mask.leak": (
        "positions where the mask is False still get weight (up to {largest:.3g}) in rows: "
        "{rows}. Check that the mask is applied as given to every query row and batch element "
        "(how it broadcasts), before the softmax.",
        "掩码为 False 的位置仍然得到了权重（最大 {largest:.3g}），涉及的行：{rows}。请检查掩码是否"
        "按原样作用到每一个查询行和每一个批次元素（注意广播方式），并且在 softmax 之前。",
    ),
    "mask.after-softmax": ("masked weights are zero but the rows no longer sum to 1",
                           "被掩码的权重为 0，但每行之和不再为 1"),
    "train-mode.differs": (
        "eval-mode output matches on all {eval_ok} cases, train-mode output differs on "
        "{train_wrong}",
        "eval 模式的输出在全部 {eval_ok} 个用例上一致，train 模式的输出在 {train_wrong} "
        "个用例上不同",
    ),
    # -- diagnoses: how a finding is shown ------------------------------------------------------
    "diagnosis.evidence": (" Evidence: {evidence}.", "依据：{evidence}。"),
    "diagnosis.hint": (" Hint {hint} covers this (`attn-drill hint {problem}`).",
                       "第 {hint} 条提示讲的就是这个（`attn-drill hint {problem}`）。"),
    # -- diagnoses: mutants -------------------------------------------------------------------
    "mutant.reproduced": (
        "your outputs reproduce this mistake on every case where it gives a result of the "
        "right shape",
        "凡是这个错误能给出正确形状结果的用例，你的输出都与它一致",
    ),
    "mutant.reproduced-on-plain-cases": (
        "your outputs reproduce this mistake on every case without a mask, huge scores or "
        "batch axes; the cases that still differ show another one",
        "在所有不带掩码、超大分数或批次轴的用例上，你的输出都与这个错误一致；"
        "其余仍然不同的用例说明还有另一个错误",
    ),
    # -- diagnoses: patterns without mutants ----------------------------------------------------
    "pattern.swapped-outputs": ("your first value is the weights and your second is the output",
                                "你返回的第一个值是权重，第二个才是输出"),
    "pattern.returns-weights": (
        "your `output` equals the attention weights (multiply them by V)",
        "你的 `output` 就是注意力权重（还需要乘以 V）",
    ),
    "pattern.rounded": ("`{output}` equals the reference rounded to {digits} decimals",
                        "`{output}` 等于参考结果四舍五入到 {digits} 位小数"),
    "pattern.scaled-by-dimension": (
        "`{output}` is the right answer times {label} (= {value:.4g}): check where you scale",
        "`{output}` 等于正确结果乘以 {label}（= {value:.4g}）：检查缩放的位置",
    ),
    "pattern.scaled-by-constant": ("`{output}` is the right answer times a constant {ratio:.4g}",
                                   "`{output}` 等于正确结果乘以常数 {ratio:.4g}"),
    "pattern.transposed": ("`{output}` is the right answer with its last two axes swapped",
                           "`{output}` 是正确结果交换了最后两个轴"),
    "pattern.rows-differ": (
        "only row{plural} {rows} (of {total}) differ; the other rows match",
        "只有第 {rows} 行（共 {total} 行）不同，其余行一致",
    ),
    # -- diagnoses: partial evidence ------------------------------------------------------------
    "keepdims.broadcast": (
        "on case '{case}' your code combined an array of shape {full} with one of shape "
        "{reduced}, the same array reduced over axis {axis}: a max or sum without "
        "keepdims=True loses that axis, so it no longer lines up (and lines up wrongly when the "
        "sizes happen to match)",
        "在用例「{case}」上，你的代码把形状 {full} 的数组和形状 {reduced} 的数组放在一起运算，"
        "后者正是前者沿轴 {axis} 约简后的结果：不带 keepdims=True 的 max 或 sum 会丢掉这个轴，"
        "于是无法对齐（尺寸碰巧相等时则会错误地对齐）",
    ),
    "axis.whole-array": ("the whole array (no axis)", "整个数组（不带轴）"),
    "axis.argument": ("`axis`", "`axis`"),
    "axis.fixed": ("axis={axis}", "axis={axis}"),
    "softmax-axes.global": (
        "your output is what a maximum over {max_axis} and a sum over the whole array give: "
        "the whole array sums to 1, not each slice",
        "你的结果等于沿 {max_axis} 取最大值、对整个数组求和得到的结果：是整个数组之和为 1，"
        "而不是每个切片",
    ),
    "softmax-axes.differ": (
        "your output is what a maximum over {max_axis} and a sum over {sum_axis} give; both "
        "must use `axis`",
        "你的结果等于沿 {max_axis} 取最大值、沿 {sum_axis} 求和得到的结果；两者都必须使用 `axis`",
    ),
    "softmax-axes.fixed": (
        "your output is the softmax over axis={axis} on every case, whatever `axis` asks for",
        "无论 `axis` 是多少，你的结果在每个用例上都是沿 axis={axis} 的 softmax",
    ),
    "weights-axis.queries": (
        "your weights sum to 1 down each column (over the queries, axis -2); each query's row "
        "(over the keys, axis -1) must sum to 1",
        "你的权重是每一列（沿查询，轴 -2）之和为 1；应当是每个查询的一行（沿键，轴 -1）之和为 1",
    ),
    "causal.diagonal-hidden": (
        "every position gets weight 0 on itself (the diagonal is masked, as with "
        "`triu(..., k=0)`), so position 0 has no key left: its row is NaN or spread over every "
        "key, future included",
        "每个位置对自己的权重都是 0（对角线被遮住了，就像 `triu(..., k=0)`），于是位置 0 "
        "没有任何可见的键：它那一行是 NaN，或平均分给了包括未来在内的所有键",
    ),
    "causal.next-seen": (
        "every position also attends to the next one (position i sees i + 1, as with "
        "`triu(..., k=2)`); only j ≤ i is allowed",
        "每个位置还关注了下一个位置（位置 i 看到了 i + 1，就像 `triu(..., k=2)`）；只允许 j ≤ i",
    ),
}


class Localisable:
    """Text decided by the grader, written in a language only when it is shown."""

    def render(self, lang: str) -> str:
        raise NotImplementedError

    def __add__(self, other: object) -> Joined:
        return Joined((self, other))

    def __radd__(self, other: object) -> Joined:
        return Joined((other, self))


@dataclass(frozen=True, eq=True)
class Message(Localisable):
    """A message id and its parameters: what the core returns instead of text."""

    id: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def render(self, lang: str) -> str:
        return render(self.id, lang, **self.params)


@dataclass(frozen=True)
class Joined(Localisable):
    """Pieces shown one after the other (messages and plain text)."""

    parts: tuple[Any, ...]

    def render(self, lang: str) -> str:
        return "".join(text_of(part, lang) for part in self.parts)

    @property
    def id(self) -> str:
        """The id of the first message among the pieces."""
        return next((p.id for p in self.parts if isinstance(p, Localisable)), "")


def join(parts: list[Any], separator: str) -> Joined:
    """The parts one after the other, `separator` between them."""
    pieces: list[Any] = []
    for index, part in enumerate(parts):
        pieces += [separator, part] if index else [part]
    return Joined(tuple(pieces))


def msg(message_id: str, **params: Any) -> Message:
    if message_id not in CATALOG:
        raise KeyError(f"no message {message_id!r} in the catalog")
    return Message(message_id, params)


def text_of(value: Any, lang: str) -> str:
    """Plain text of a message, of learner-facing content with `.get(lang)`, or of a value."""
    if isinstance(value, Localisable):
        return value.render(lang)
    if hasattr(value, "get") and hasattr(value, "en"):  # problems.L10n
        return value.get(lang)
    return value if isinstance(value, str) else str(value)


def render(message_id: str, lang: str, **params: Any) -> str:
    """The text of a message in `lang` (English for any language the catalog lacks)."""
    en, zh = CATALOG[message_id]
    template = zh if lang == "zh" else en
    values = {k: text_of(v, lang) if isinstance(v, Localisable) or hasattr(v, "en") else v
              for k, v in params.items()}
    return template.format(**values)


def params_json(value: Any) -> Any:
    """A message's parameters as JSON data (nested messages as {id, params})."""
    if isinstance(value, Message):
        return {"id": value.id, "params": params_json(value.params)}
    if isinstance(value, Joined):
        return [params_json(p) for p in value.parts]
    if isinstance(value, dict):
        return {str(k): params_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [params_json(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
