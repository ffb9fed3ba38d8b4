"""What a label of a model's target may be: a class seen in training, or a finite number.

A ``LabelRule`` is derived from the signature's ``prediction`` output: a classifier (an output with
``classes``) takes only those classes; a regressor (a float prediction) takes finite numbers; an
integer, boolean or string prediction takes a scalar of that kind. Feedback is checked with it when
it arrives, and monitoring uses the same rule to skip (and count) labels stored before the check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from shipyard.package.signature import Signature

Kind = Literal["classes", "number", "integer", "bool", "string", "scalar"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class LabelRule:
    kind: Kind
    classes: tuple[Any, ...] = ()

    @classmethod
    def from_signature(cls, signature: Signature) -> LabelRule:
        out = signature.output("prediction")
        if out is None:
            return cls("scalar")
        if out.classes is not None:
            return cls("classes", tuple(out.classes))
        if out.dtype.startswith("float"):
            return cls("number")
        if "int" in out.dtype:
            return cls("integer")
        if out.dtype == "bool":
            return cls("bool")
        if out.dtype == "string":
            return cls("string")
        return cls("scalar")

    def describe(self) -> str:
        if self.kind == "classes":
            shown = ", ".join(repr(c) for c in self.classes[:20])
            more = ", ..." if len(self.classes) > 20 else ""
            return f"one of the classes seen in training ({shown}{more})"
        return {
            "number": "a finite number",
            "integer": "an integer",
            "bool": "true or false",
            "string": "a string",
            "scalar": "a number, a string or a boolean",
        }[self.kind]

    def accepts(self, value: Any) -> bool:
        if self.kind == "classes":
            # bools are ints in Python: True must not pass for class 1 (nor 1 for class True)
            return any(
                value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.classes
            )
        if self.kind == "number":
            return _is_number(value) and math.isfinite(value)
        if self.kind == "integer":
            return _is_number(value) and math.isfinite(value) and float(value).is_integer()
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "string":
            return isinstance(value, str)
        return isinstance(value, str | bool) or (_is_number(value) and math.isfinite(value))

    def problem(self, value: Any) -> str | None:
        """None when ``value`` is a valid label, else what was expected (one line)."""
        if self.accepts(value):
            return None
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"expected {self.describe()}, got {shown}"


__all__ = ["LabelRule"]
