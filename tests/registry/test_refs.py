from __future__ import annotations

import pytest

from shipyard.core.errors import InvalidArgument
from shipyard.registry.refs import ModelRef, check_alias, check_name, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:/churn/3", ModelRef("churn", version=3)),
        ("models:/churn@champion", ModelRef("churn", alias="champion")),
        ("churn@champion", ModelRef("churn", alias="champion")),
        ("churn/12", ModelRef("churn", version=12)),
        ("models:/churn@latest", ModelRef("churn", alias="latest")),
        ("team.churn-v2@shadow_1", ModelRef("team.churn-v2", alias="shadow_1")),
    ],
)
def test_parse_ref(text: str, expected: ModelRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "churn",
        "churn/",
        "churn@",
        "churn/0",
        "churn/x",
        "models:churn/1",
        "/churn/1",
        "churn@1abc",
        "ch urn@a",
        "",
    ],
)
def test_bad_refs_say_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_ref(text)
    assert f"invalid model reference {text!r}" in str(info.value)
    assert "name/3" in str(info.value) or "versions start at 1" in str(info.value)


def test_names_and_aliases_are_checked() -> None:
    assert check_name("churn_v2") == "churn_v2"
    with pytest.raises(InvalidArgument, match="invalid model name 'a b'"):
        check_name("a b")
    with pytest.raises(InvalidArgument, match="'latest' is reserved"):
        check_alias("latest")
    with pytest.raises(InvalidArgument, match="invalid alias '9x'"):
        check_alias("9x")
