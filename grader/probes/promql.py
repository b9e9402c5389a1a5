"""A small PromQL tokenizer: the metric names an expression selects, and unbalanced brackets.

It is not a parser: it finds identifiers that are not functions (followed by `(`), keywords,
label names (inside `{...}` or a `by (...)` list), durations or numbers, plus `{__name__="x"}`.
"""

from __future__ import annotations

import re

from grader.probes.text_files import BRACKETS, after_string, closing_bracket

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?)([smhdwy]|ms)?([0-9]+([smhdwy]|ms))*")
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(["'`])([A-Za-z_:][A-Za-z0-9_:]*)\1""")
# Keywords that take a parenthesised list of label names, which are not metrics.
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# Aggregation operators may put `by (...)` before their parentheses: `sum by (le) (rate(x[5m]))`.
_AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)
_KEYWORDS = _LABEL_LISTS | _AGGREGATIONS | {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}


def metric_names(expr: str) -> tuple[str, ...]:
    """The metric names `expr` selects, in order of first appearance."""
    names: list[str] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char in "\"'`":
            i = after_string(expr, i)
        elif char == "#":
            newline = expr.find("\n", i)
            i = len(expr) if newline < 0 else newline
        elif char == "{":
            end = closing_bracket(expr, i)
            names += [m.group(2) for m in _NAME_MATCHER.finditer(expr, i, end)]
            i = end + 1
        elif char == "[":
            i = closing_bracket(expr, i) + 1
        elif char == "$":  # a Grafana variable: $var, ${var}, $__rate_interval
            i += 1
            i = closing_bracket(expr, i) + 1 if expr.startswith("{", i) else _skip(_IDENT, expr, i)
        elif char.isdigit() or (char == "." and expr[i + 1 : i + 2].isdigit()):
            i = _skip(_NUMBER, expr, i)
        elif (match := _IDENT.match(expr, i)) is not None:
            i = match.end()
            after = i
            while after < len(expr) and expr[after].isspace():
                after += 1
            word = match.group(0)
            if word.lower() in _LABEL_LISTS and expr.startswith("(", after):
                i = closing_bracket(expr, after) + 1
            elif not expr.startswith("(", after) and word.lower() not in _KEYWORDS:
                names.append(word)
        else:
            i += 1
    return tuple(dict.fromkeys(names))


def bracket_problem(expr: str) -> str | None:
    """Why the brackets of `expr` do not balance (strings and comments skipped), or None."""
    stack: list[str] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char in "\"'`":
            end = after_string(expr, i)
            if end > len(expr):
                return f"unterminated string starting {expr[i : i + 20]!r}"
            i = end
            continue
        if char in BRACKETS:
            stack.append(char)
        elif char in BRACKETS.values() and (not stack or BRACKETS[stack.pop()] != char):
            return f"unexpected {char!r} at character {i + 1}"
        i += 1
    return f"unclosed {stack[-1]!r}" if stack else None


def _skip(pattern: re.Pattern[str], text: str, start: int) -> int:
    """The index after `pattern` matched at `start`; always moves at least one character."""
    match = pattern.match(text, start)
    return max(match.end() if match else start, start + 1)
