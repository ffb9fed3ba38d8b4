"""Model references: ``models:/name/3``, ``models:/name@alias``, ``name@alias``, ``name/3``.

``@latest`` is reserved: it always means the highest version number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.core.errors import InvalidArgument

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"
ALIAS_PATTERN = r"[A-Za-z][A-Za-z0-9_\-]{0,63}"
_NAME = re.compile(rf"^{NAME_PATTERN}$")
_ALIAS = re.compile(rf"^{ALIAS_PATTERN}$")
_REF = re.compile(
    rf"^(?:models:/)?(?P<name>{NAME_PATTERN})(?:/(?P<version>\d+)|@(?P<alias>{ALIAS_PATTERN}))$"
)

LATEST = "latest"

REF_FORMS = "name/3, name@alias, models:/name/3, models:/name@alias or name@latest"


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.name}/{self.version}"
            if self.version is not None
            else f"{self.name}@{self.alias}"
        )


def parse_ref(text: str) -> ModelRef:
    match = _REF.match(text.strip())
    if not match:
        raise InvalidArgument(f"invalid model reference {text!r}; expected {REF_FORMS}")
    version = match.group("version")
    if version is not None:
        if int(version) < 1:
            raise InvalidArgument(f"invalid model reference {text!r}: versions start at 1")
        return ModelRef(name=match.group("name"), version=int(version))
    return ModelRef(name=match.group("name"), alias=match.group("alias"))


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidArgument(
            f"invalid model name {name!r}: use letters, digits, '_', '-', '.', starting with a letter "
            "or digit, at most 128 characters"
        )
    return name


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise InvalidArgument(
            f"invalid alias {alias!r}: use letters, digits, '_' or '-', starting with a letter, "
            "at most 64 characters"
        )
    if alias == LATEST:
        raise InvalidArgument("'latest' is reserved: it always means the highest version")
    return alias
