"""Request bodies read with limits (every malformed body is an :class:`ApiError`, HTTP 4xx), and
answers written as strict JSON (:class:`JSONAnswer`, :func:`dumps`: NaN and infinity, which JSON
does not have, are written as null).

:func:`read_json` is the only way a route reads JSON. It refuses, before anything looks at
the values: a body over its byte limit (413, from ``Content-Length`` or while streaming), bytes
that are not UTF-8, text that is not JSON, ``NaN`` and ``Infinity`` (not JSON numbers), integer
literals longer than :data:`MAX_INT_DIGITS` digits, and nesting deeper than
:data:`MAX_DEPTH` (all 400). So no body can reach Python's recursion or integer-conversion
limits, and the values the settings validation sees are small.
"""

from __future__ import annotations

import json
from typing import Any

import math

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "ApiError", "JSONAnswer", "dumps", "read_body",
           "read_json"]

MAX_DEPTH = 8
"""Deepest nesting of arrays and objects a body may have (the settings need 3)."""
MAX_INT_DIGITS = 20
"""Longest integer literal a body may hold (2**63 has 19 digits)."""


class ApiError(Exception):
    """An error answered as JSON ``{"error": message, "field": field}`` with ``status``."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"The {what} is {int(declared)} bytes; the limit is {limit}.", "body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"The {what} is over the limit of {limit} bytes.", "body")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, what: str = "request body",
                    allow_empty: bool = False) -> Any:
    """The body parsed as JSON within the limits above; None for an empty body if allowed."""
    raw = await read_body(request, limit, what)
    if allow_empty and not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"The {what} is not valid JSON: it is not UTF-8 text.", "body") from None
    try:
        value = json.loads(text, parse_int=_int_literal, parse_constant=_no_constant)
    except RecursionError:
        value = _TOO_DEEP
    except ValueError as err:  # JSONDecodeError, and the literals refused below
        raise ApiError(400, f"The {what} is not valid JSON: {err}.", "body") from None
    if value is _TOO_DEEP or _depth(value) > MAX_DEPTH:
        raise ApiError(400, f"The {what} nests arrays and objects more than {MAX_DEPTH} "
                       "levels deep; the API needs at most 3.", "body")
    return value


_TOO_DEEP = object()


def _int_literal(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits; the limit is {MAX_INT_DIGITS}")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """Nesting depth of arrays and objects (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def dumps(content: Any) -> str:
    """``content`` as strict JSON: a NaN or an infinity anywhere in it is written as null.

    A network that diverged, or an explanation of one, has such numbers; ``json.dumps`` would
    write them as ``NaN``, which no JSON parser (the page's ``JSON.parse``) reads.
    """
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite float somewhere: only then walk the content
        return json.dumps(_finite(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


class JSONAnswer(JSONResponse):
    """The server's JSON responses, written by :func:`dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")
