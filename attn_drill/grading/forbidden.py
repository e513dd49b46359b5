"""Built-ins a problem forbids (CONTRACT.md, "Built-ins that a problem forbids").

A track's `forbidden:` list names library callables by their qualified name, e.g.
`torch.nn.functional.scaled_dot_product_attention`. A submission that uses one fails the check
`forbidden` and is diagnosed as `uses-builtin`. Two independent detectors:

- `find_uses` reads the learner's source through the syntax tree: imports, aliases, `from`
  imports, module aliases assigned to a name, attribute chains and `getattr(module, "name")`.
  Comments and strings are not code, and the learner's own functions and methods (the
  `SelfAttention` template has a method named `scaled_dot_product_attention`) are not the
  library's: only names that resolve through an import count.
- `install_guards` runs in the child before the learner's code is loaded: each forbidden
  callable is replaced by one that raises `ForbiddenBuiltinError`, so a use the syntax tree
  cannot see (a name built at run time) still shows as that error in the report.

Imported by the child: standard library only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

FORBIDDEN_ERROR = "ForbiddenBuiltinError"


class ForbiddenBuiltinError(RuntimeError):
    """Raised in the child when learner code calls a forbidden built-in."""


@dataclass(frozen=True)
class Use:
    name: str  # the forbidden qualified name
    line: int


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The qualified name an expression refers to, when it starts at an imported name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "getattr" and len(node.args) >= 2 \
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
        base = _dotted(node.args[0], aliases)
        return None if base is None else ".".join([base, node.args[1].value, *reversed(parts)])
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _import_aliases(tree: ast.AST) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """Local name -> qualified name for every import (anywhere in the file), and the
    qualified names that `from` imports bring in, with their lines."""
    aliases: dict[str, str] = {}
    imported: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = qualified
                imported.append((qualified, node.lineno))
    return aliases, imported


def _own_definitions(tree: ast.Module) -> set[str]:
    """Top-level functions and classes the learner defines: they shadow an import."""
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _assigned_aliases(tree: ast.AST, aliases: dict[str, str]) -> None:
    """`F = torch.nn.functional`, `attend = F.scaled_dot_product_attention`: a name assigned
    an imported thing refers to it too (flow-insensitive, to a fixed point)."""
    assignments = [(target.id, node.value) for node in ast.walk(tree)
                   if isinstance(node, ast.Assign)
                   for target in node.targets if isinstance(target, ast.Name)]
    changed = True
    while changed:
        changed = False
        for name, value in assignments:
            resolved = _dotted(value, aliases)
            if resolved is not None and aliases.get(name) != resolved:
                aliases[name] = resolved
                changed = True


def _matches(qualified: str, forbidden: str) -> bool:
    return qualified == forbidden or qualified.startswith(forbidden + ".")


def find_uses(source: str, forbidden: Sequence[str]) -> list[Use]:
    """Each use of a forbidden name in `source`, once per (name, line), in line order.
    Source that does not parse has no uses (its syntax error is reported elsewhere)."""
    if not forbidden:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    aliases, imported = _import_aliases(tree)
    for own in _own_definitions(tree):
        aliases.pop(own, None)
    _assigned_aliases(tree, aliases)
    found: set[Use] = set()
    for qualified, line in imported:
        for name in forbidden:
            if _matches(qualified, name):
                found.add(Use(name, line))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name, ast.Call)):
            qualified = _dotted(node, aliases)
            if qualified is None:
                continue
            for name in forbidden:
                if _matches(qualified, name):
                    found.add(Use(name, getattr(node, "lineno", 0)))
    return sorted(found, key=lambda use: (use.line, use.name))


# -- in the child ----------------------------------------------------------------------------


def resolve(qualified: str) -> tuple[Any, str, Any]:
    """(owner, attribute, object) of a qualified name: the longest importable module prefix,
    then attributes. Raises ImportError/AttributeError when it does not exist."""
    import importlib

    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:-1]:
            owner = getattr(owner, attribute)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ImportError(f"no module of {qualified!r} can be imported")


def _guard(qualified: str, original: Any) -> Any:
    message = (f"{qualified} is not allowed in this problem: it does the exercise for you. "
               "Write the computation yourself.")
    if isinstance(original, type):
        def refuse_init(self: Any, *args: Any, **kwargs: Any) -> None:
            raise ForbiddenBuiltinError(message)

        return type(original.__name__, (original,),
                    {"__init__": refuse_init, "__module__": original.__module__,
                     "__qualname__": original.__qualname__})

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ForbiddenBuiltinError(message)

    refuse.__name__ = getattr(original, "__name__", "forbidden")
    refuse.__qualname__ = getattr(original, "__qualname__", refuse.__name__)
    return refuse


def install_guards(forbidden: Iterable[str]) -> list[str]:
    """Replace each forbidden callable by one that raises; returns the names guarded (a name
    whose library is not installed cannot be used either)."""
    guarded = []
    for qualified in forbidden:
        try:
            owner, attribute, original = resolve(qualified)
        except (ImportError, AttributeError):
            continue
        setattr(owner, attribute, _guard(qualified, original))
        guarded.append(qualified)
    return guarded


# -- the check, in the parent ----------------------------------------------------------------


def runtime_uses(ev: Any, forbidden: Sequence[str]) -> list[str]:
    """Forbidden names the child refused at run time (from the learner's errors)."""
    names: set[str] = set()
    errors = [outcome.error for outcome in ev.outcomes.values() if outcome.error is not None]
    if ev.fatal is not None:
        errors.append(ev.fatal)
    for error in errors:
        text = f"{getattr(error, 'message', '')}\n{getattr(error, 'traceback', '')}"
        if FORBIDDEN_ERROR in text:
            names.update(name for name in forbidden if name in text)
    return sorted(names)


def check_forbidden(ev: Any, source: str) -> Any:
    """The `forbidden` check line (message ids: attn_drill.messages), or None when the track
    forbids nothing."""
    from attn_drill.grading.report import CheckResult
    from attn_drill.messages import msg

    forbidden = list(getattr(ev.spec, "forbidden", None) or [])
    if not forbidden:
        return None
    name = msg("check.forbidden")
    uses = find_uses(source, forbidden)
    at_run_time = [n for n in runtime_uses(ev, forbidden) if n not in {u.name for u in uses}]
    if not uses and not at_run_time:
        return CheckResult(name, True, kind="forbidden")
    details: list[Any] = [msg("forbidden.line", line=u.line, name=u.name) for u in uses]
    details += [msg("forbidden.runtime", name=n) for n in at_run_time]
    names = sorted({u.name for u in uses} | set(at_run_time))
    message = msg("forbidden.used", names=", ".join(names))
    return CheckResult(name, False, message, kind="forbidden", details=details)
