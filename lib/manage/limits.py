"""How large and how deep a JSON value a job or a run may carry (the console, its API and the CLI alike).

A payload is sent as the webhook's body and kept in jsonb; one nested a few
hundred levels deep used to be written, and then broke every list that
showed it. Refused at the edge instead: 422 naming the field.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
MAX_BYTES = 64 * 1024


def json_problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` cannot be stored and sent as JSON, as the end of a sentence; None when it can.

    A loop, not recursion: the value may nest as deep as the JSON parser allowed.
    Checks: depth, NUL characters and lone surrogates (neither Postgres text
    nor UTF-8 can hold them), numbers JSON cannot write (NaN, infinity).
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth + 1 > max_depth:
                return f"nests deeper than {max_depth} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            return "holds a number JSON cannot write (NaN or infinity)"
    return None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (\\ud800-\\udfff), which is not text"
    return None


def size_problem(value: Any, *, max_bytes: int = MAX_BYTES) -> str | None:
    """Why `value` is too large as JSON, or None (call after json_problem: it must be writable)."""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        return f"is larger than {max_bytes // 1024} KB as JSON"
    return None
