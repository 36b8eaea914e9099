"""Strict marshmallow building blocks: no type coercion, no MongoDB operators, unique lists.

marshmallow's defaults are lenient ("5" loads as 5, "yes" as True); a clinical referral
must not be, and input that looks like a query operator is refused outright even where
no query would ever see it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

MAX_DEPTH = 8


class StrictInteger(fields.Integer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class StrictFloat(fields.Float):
    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def unique(values: list[Any]) -> None:
    if len(values) != len(set(values)):
        raise ValidationError("Must not contain duplicates.")


def codes(choices: tuple[str, ...], *, min_length: int = 0, **kwargs: Any) -> fields.List:
    """A list of distinct codes from a documented vocabulary."""
    checks = [unique, validate.Length(min=min_length, max=len(choices))]
    metadata = {"uniqueItems": True, **kwargs.pop("metadata", {})}  # so the OpenAPI document says so too
    return fields.List(
        fields.String(validate=validate.OneOf(choices)), validate=checks, metadata=metadata, **kwargs
    )


def text(max_length: int, *, multiline: bool = False, **kwargs: Any) -> fields.String:
    """Free text. Single-line unless ``multiline``: shared.json_input refuses line breaks
    (and, everywhere, control, bidi-override and surrogate characters) before loading."""
    metadata = {**kwargs.pop("metadata", {}), **({"multiline": True} if multiline else {})}
    return fields.String(validate=validate.Length(min=1, max=max_length), metadata=metadata, **kwargs)


def operator_errors(value: Any, path: str = "", depth: int = 0) -> dict[str, list[str]]:
    """Keys that MongoDB would read as operators or paths ($-prefixed, dotted, NUL), anywhere."""
    if depth > MAX_DEPTH:
        return {path or "_schema": ["Nested too deeply."]}
    errors: dict[str, list[str]] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if str(key).startswith("$") or "." in str(key) or "\x00" in str(key):
                errors[name] = ["Field names must not start with '$' or contain '.'."]
            else:
                errors.update(operator_errors(item, name, depth + 1))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            errors.update(operator_errors(item, f"{path}.{n}" if path else str(n), depth + 1))
    return errors


class InputSchema(Schema):
    """Root of every request body: refuses operator-shaped keys before anything else."""

    @pre_load
    def _refuse_operators(self, data: Any, **kwargs: Any) -> Any:
        errors = operator_errors(data)
        if errors:
            raise ValidationError(errors)
        return data
