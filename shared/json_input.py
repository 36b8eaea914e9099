"""Request bodies every API accepts only when they are sane JSON text: bounded depth, no hidden characters.

Used by the webargs parser every flask_smorest blueprint parses with (installed by
shared.http) and by the few routes that read ``request.get_json`` themselves. It runs as
part of *parsing the body*, i.e. after each blueprint's ``before_request`` authentication:
a caller without credentials gets 401, never a validation answer.

- **Depth**: JSON nested deeper than :data:`MAX_DEPTH` answers 400 (``invalid_body``).
  Python's decoder would raise RecursionError at ~1,000 levels (a 500); no Waymark body
  is deeper than a handful of levels.
- **Characters** (422 naming the field, ``student.name``, ``guardians.0.email``; keys too):
  refused in *every* string: lone surrogates (``"\\ud800"``: not text; they cannot be
  encoded, stored or encrypted), NUL and the other C0 controls except TAB/LF/CR, DEL, the
  C1 controls (U+0080-U+009F) and the bidirectional embedding, override and isolate
  controls U+202A-U+202E and U+2066-U+2069 ("Trojan Source": they make text display in
  another order than it is stored). Right-to-left text itself needs none of them
  (U+200E/U+200F marks stay allowed).
- **Line breaks**: CR, LF, TAB, U+2028 and U+2029 are refused in single-line fields (names,
  phones, codes, ids: a log line or a CSV export must not be split by a name) and allowed
  only in fields declared multi-line: a marshmallow field with ``metadata={"multiline":
  True}`` (free-text notes and details), and the values of free-form ``Dict``/``Raw``
  fields. Nothing is silently rewritten: the client is told which field to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields

MAX_DEPTH = 32
TOO_DEEP = f"The JSON body is nested too deeply (more than {MAX_DEPTH} levels)."

_ALWAYS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_LINE_BREAKS = "\t\n\r\u2028\u2029"
_MULTI_LINE_BAD = re.compile(f"[{_ALWAYS}]")
_SINGLE_LINE_BAD = re.compile(f"[{_ALWAYS}{_LINE_BREAKS}]")


class TooDeep(ValueError):
    """The body is nested deeper than MAX_DEPTH (or than the decoder can recurse)."""


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises :class:`TooDeep` instead of RecursionError for absurd nesting."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeep(TOO_DEEP) from None


def problems(data: Any, schema: Schema | None = None) -> dict[str, list[str]]:
    """Field path → messages for every refused character in ``data`` (empty when clean).

    Raises :class:`TooDeep` when ``data`` nests deeper than :data:`MAX_DEPTH`. ``schema``
    (the one that will load ``data``) says which strings are multi-line; without one every
    string is single-line.
    """
    found: dict[str, list[str]] = {}
    _walk(data, schema, "", 0, found, multiline=False)
    return found


def describe(bad: str) -> str:
    """What a refused character is, for the message: 'U+202E' plus a hint."""
    code = ord(bad)
    name = f"U+{code:04X}"
    if 0xD800 <= code <= 0xDFFF:
        return f"Must be valid Unicode text (a lone surrogate {name} was sent)."
    if bad in _LINE_BREAKS:
        return f"Must be a single line ({name} is a line break or tab)."
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return f"Must not contain bidirectional override characters ({name})."
    return f"Must not contain control characters ({name})."


def _walk(
    value: Any, node: Any, path: str, depth: int, found: dict[str, list[str]], *, multiline: bool
) -> None:
    if depth > MAX_DEPTH:
        raise TooDeep(TOO_DEEP)
    if isinstance(value, str):
        match = (_MULTI_LINE_BAD if multiline else _SINGLE_LINE_BAD).search(value)
        if match:
            found.setdefault(path or "_body", []).append(describe(match.group()))
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            key_bad = _SINGLE_LINE_BAD.search(str(key))
            if key_bad:
                found.setdefault(_printable(name), []).append("Field name: " + describe(key_bad.group()))
                continue
            child, child_multiline = _child(node, key)
            _walk(item, child, name, depth + 1, found, multiline=child_multiline or (node is _FREE))
        return
    if isinstance(value, list):
        inner = _inner(node)
        inner_multiline = node is _FREE or _is_multiline(inner)
        for n, item in enumerate(value):
            _walk(item, inner, f"{path}.{n}" if path else str(n), depth + 1, found, multiline=inner_multiline)


_FREE = object()
"""Marks free-form content (a Dict/Raw field's values): its strings may span lines."""


def _child(node: Any, key: Any) -> tuple[Any, bool]:
    """The schema node for ``key`` under ``node`` and whether its strings may be multi-line."""
    if node is _FREE:
        return _FREE, True
    if isinstance(node, fields.Nested):
        node = node.schema
    if isinstance(node, Schema):
        field = _by_data_key(node).get(str(key))
        if field is None:
            return None, False  # an unknown field: the schema refuses it anyway
        if isinstance(field, fields.Mapping | fields.Raw):
            return _FREE, True
        return field, _is_multiline(field)
    if isinstance(node, fields.Mapping):
        return _FREE, True
    return None, False


def _inner(node: Any) -> Any:
    if node is _FREE:
        return _FREE
    if isinstance(node, fields.List):
        return node.inner
    return None


def _is_multiline(field: Any) -> bool:
    return isinstance(field, fields.Field) and bool(field.metadata.get("multiline"))


def _by_data_key(schema: Schema) -> dict[str, fields.Field]:
    cached = schema.__dict__.get("_waymark_by_data_key")
    if cached is None:
        cached = {(f.data_key or name): f for name, f in schema.load_fields.items()}
        schema.__dict__["_waymark_by_data_key"] = cached
    return cached


def _printable(name: str) -> str:
    """A field path safe to echo back (the offending key itself may hold the bad character)."""
    return _SINGLE_LINE_BAD.sub("\ufffd", name)
