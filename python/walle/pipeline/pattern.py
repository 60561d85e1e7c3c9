"""Parser of trigger patterns and filter conditions.

Grammar (whitespace separates steps)::

    pattern := step (" " step)*
    step    := "*"                      zero or more events of any id (a gap)
             | ids [ "(" cond ("," cond)* ")" ]
    ids     := "_" | NAME ("|" NAME)*   "_" is any one event; "|" separates alternatives
    cond    := FIELD OP value           OP is one of = != < <= > >=
    value   := "$"VAR | NUMBER | 'text' | "text" | BAREWORD

``$VAR`` binds the field's value the first time it appears in a pattern; later steps must
then see the same value (``page_enter(page=$p) * page_leave(page=$p)``).  Without a ``*``
before it, a step must match the very next event.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import PatternError
from .fields import Getter, getter

ANY = "_"
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.:\-/]*"
_STEP_RE = re.compile(rf"\s*(\*|(?:{_NAME})(?:\|{_NAME})*)(\(([^()]*)\))?")
_COND_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(!=|<=|>=|=|<|>)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Cond:
    """One condition on a field: a comparison with a literal, or a variable binding."""

    field: str
    op: str
    value: Any = None           # the literal, when var is None
    var: str | None = None      # the variable name, for "$var"
    get: Getter = field(default=None, compare=False, hash=False, repr=False)  # type: ignore

    def test(self, record: Any, bindings: dict[str, Any]) -> bool | dict[str, Any]:
        """False, True, or (for a first binding) the bindings extended with the new value."""
        got = self.get(record)
        if self.var is None:
            try:
                return got is not None and _OPS[self.op](got, self.value)
            except TypeError:  # e.g. "abc" < 3: a condition on the wrong type never matches
                return False
        if self.var in bindings:
            return _OPS[self.op](got, bindings[self.var])
        if self.op != "=" or got is None:
            return False
        return {**bindings, self.var: got}


@dataclass(frozen=True)
class Step:
    """One step of a pattern: event ids (None for any), conditions, and the gap before it."""

    ids: tuple[str, ...] | None
    conds: tuple[Cond, ...]
    gap: bool


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_cond(text: str, where: str) -> Cond:
    """Parse ``field op value``; ``where`` names the pattern for error messages."""
    m = _COND_RE.match(text)
    if not m:
        raise PatternError(f"{where}: condition {text.strip()!r} is not 'field op value'")
    name, op, raw = m.groups()
    if raw.startswith("$"):
        if not re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", raw):
            raise PatternError(f"{where}: variable {raw!r} is not a name")
        return Cond(name, op, None, raw[1:], getter(name))
    return Cond(name, op, _literal(raw), None, getter(name))


def parse_pattern(text: str, where: str = "pattern") -> tuple[Step, ...]:
    """Parse a trigger pattern into steps; a leading or repeated ``*`` is folded away."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"{where}: pattern must be a non-empty string")
    steps: list[Step] = []
    pos, gap = 0, False
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _STEP_RE.match(text, pos)
        if not m or m.end() == pos:
            raise PatternError(f"{where}: cannot parse at {text[pos:].strip()[:20]!r}")
        head, _, body = m.groups()
        pos = m.end()
        if pos < len(text) and not text[pos].isspace():
            raise PatternError(f"{where}: unexpected {text[pos]!r} after step {head!r}")
        if head == "*":
            if body is not None:
                raise PatternError(f"{where}: '*' takes no conditions")
            gap = True
            continue
        conds = tuple(parse_cond(c, where) for c in body.split(",")) if body else ()
        ids = None if head == ANY else tuple(dict.fromkeys(head.split("|")))
        if ids is not None and ANY in ids:
            raise PatternError(f"{where}: '_' cannot be an alternative in {head!r}")
        steps.append(Step(ids, conds, gap and bool(steps)))
        gap = False
    if not steps:
        raise PatternError(f"{where}: pattern {text!r} has no event step")
    if gap:
        raise PatternError(f"{where}: pattern {text!r} ends with '*', which never completes")
    return tuple(steps)


def compile_condition(text: str, where: str = "filter") -> Callable[[Any], bool]:
    """Compile a one-step pattern (such as ``click|view(page=home, args.price>10)``) into a
    predicate; variables are not allowed because a filter sees one record at a time."""
    steps = parse_pattern(text, where)
    if len(steps) != 1:
        raise PatternError(f"{where}: a condition must be one step, got {len(steps)}")
    step = steps[0]
    if any(c.var for c in step.conds):
        raise PatternError(f"{where}: variables ($name) are only allowed in trigger patterns")
    ids = frozenset(step.ids) if step.ids is not None else None
    get_id = getter("id")
    conds = step.conds
    if not conds and ids is not None:
        return lambda record: get_id(record) in ids

    def predicate(record: Any) -> bool:
        if ids is not None and get_id(record) not in ids:
            return False
        return all(c.test(record, {}) for c in conds)
    return predicate
