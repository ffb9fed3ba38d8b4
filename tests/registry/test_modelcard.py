"""Model cards from what the registry knows, in Markdown and self-contained, escaped HTML."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from shipyard.core.errors import NotFound
from shipyard.package.manifest import Lineage
from shipyard.registry.governance import GovernanceService
from shipyard.registry.modelcard import model_card
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.governance import SqlGovernanceStore
from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.testing import ThresholdModel

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0, None], "plan": ["basic", "pro", "basic", "basic"]})
LINEAGE = Lineage(
    git_commit="0a1b2c3d",
    git_dirty=True,
    data_digest="sha256:feedbeef",
    dataset_name="churn-2026-q3",
    dataset_uri="s3://bucket/churn/q3.parquet",
    parent="churn/1",
)
EVALUATION = {
    "champion": "churn/1",
    "dataset": "holdout 2026-11",
    "metrics": {"auc": {"candidate": 0.91, "champion": 0.89}, "rows": 5000},
    "slices": {"plan=basic": {"auc": 0.9}, "plan=pro": {"auc": 0.93}},
}
SECTIONS = [
    "Model Details",
    "Intended Use",
    "Metrics",
    "Training Data",
    "Feature Importance",
    "Evaluation",
    "Quantitative Analyses",
    "Lineage",
    "Approvals",
    "Alias History",
    "Caveats and Recommendations",
]


@pytest.fixture
def gov(registry: RegistryService, store: SqlRegistryStore) -> GovernanceService:
    return GovernanceService(SqlGovernanceStore(store), registry)


def _log(registry: RegistryService, **options: object) -> int:
    mv = registry.log_model(
        ThresholdModel(threshold=0.5), name="churn", X_sample=FRAME, actor="alice", **options
    )
    return mv.version


def test_card_has_every_section_and_the_registry_facts(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry, lineage=Lineage())
    v2 = _log(
        registry,
        lineage=LINEAGE,
        metrics={"accuracy": 0.93},
        params={"threshold": 0.5},
        tags={"intended_use": "Rank customers by churn risk for retention calls."},
        description="threshold model",
    )
    registry.set_alias("churn", "champion", 1, reason="first")
    registry.set_alias("churn", "champion", v2, reason="better auc")
    registry.set_alias("churn", "staging", v2)
    registry.delete_alias("churn", "staging", reason="cleanup")  # gone, still in the history
    gov.protect("churn", "champion")
    gov.approve("churn", v2, actor="bob", comment="reviewed")

    card = model_card(registry, "churn", v2, governance=gov, evaluation=EVALUATION)
    md = card.markdown
    assert re.findall(r"^## (.+)$", md, flags=re.M) == SECTIONS
    assert md.startswith("# Model card: churn/2\n")
    for expected in [
        "- **Flavor:** python",
        "- **Created:** ",
        " by alice",
        "threshold model",
        "Rank customers by churn risk for retention calls.",
        "| accuracy | 0.93 |",
        "| threshold | 0.5 |",
        "- **Dataset:** churn-2026-q3",
        "- **Dataset URI:** s3://bucket/churn/q3.parquet",
        "- **Data digest:** sha256:feedbeef",
        "- **Git commit:** 0a1b2c3d (dirty)",
        "### Reference profile (4 rows)",
        "| x | numeric (discrete) | 25.0% | top: 0 33.3%, 1 33.3%, 2 33.3% (3 distinct) |",
        "| plan | categorical | 0.0% | top: basic 75.0%, pro 25.0% (2 distinct) |",
        "- **champion:** churn/1",
        "| auc | 0.91 | 0.89 | 0.02 |",
        "| rows | 5000 | - | - |",
        "| slice | auc |",
        "| plan=pro | 0.93 |",
        "- **Parent version:** churn/1",
        "- **Status:** approved",
        "- **Protected aliases:** @champion (1)",
        "| bob | approved | reviewed |",
        "| @champion | 1 | 2 | tester | better auc |",
        "| @staging | - | 2 | tester | - |",
        "| @staging | 2 | (deleted) | tester | cleanup |",
        "uncommitted changes",
    ]:
        assert expected in md, expected
    assert "| @champion | - | 1 |" not in md  # events not involving this version are left out
    assert card.html.count("<section>") == len(SECTIONS)


def test_card_of_a_bare_version_lists_what_is_unknown(registry: RegistryService) -> None:
    _log(registry, lineage=Lineage())
    md = model_card(registry, "churn", 1).markdown
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert "Evaluation" not in headings and "Approvals" not in headings
    caveats = md.split("## Caveats and Recommendations", 1)[1]
    for unknown in [
        "Intended use is not stated",
        "No metrics were recorded",
        "The training dataset is not named",
        "git commit is unknown",
        "No evaluation against the champion",
        "Limitations are not documented",
        "Ethical considerations are not documented",
        "No global feature importance was recorded",
    ]:
        assert unknown in caveats, unknown
    assert "This version has never been the target of an alias." in md
    assert "- **Parent version:** none recorded" in md
    with pytest.raises(NotFound):
        model_card(registry, "churn", 5)


def test_card_ranks_feature_importance_of_an_exact_model(
    registry: RegistryService, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, y = cancer
    registry.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
    md = model_card(registry, "cancer", 1).markdown
    section = md.split("## Feature Importance", 1)[1].split("\n## ", 1)[0]
    assert "Mean absolute linear attribution per input column over 500 reference rows" in section
    assert "(output: log-odds)" in section
    table = [line for line in section.splitlines() if line.startswith("| ") and "%" in line]
    assert len(table) == X.shape[1]
    values = [float(line.split("|")[2]) for line in table]
    assert values == sorted(values, reverse=True)  # ranked, largest first
    assert "No global feature importance" not in md


def test_html_escapes_user_text_and_loads_nothing_external(
    registry: RegistryService, gov: GovernanceService
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    v = _log(
        registry,
        lineage=LINEAGE,
        description=evil,
        tags={"intended_use": evil, "limitations": "a | b & <c>"},
        metrics={"<b>m</b>": 1.0},
    )
    registry.describe("churn", evil)
    gov.protect("churn", "champion")
    gov.reject("churn", v, actor="bob", comment=evil)
    card = model_card(registry, "churn", v, governance=gov, evaluation={"note": evil})
    page = card.html
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    for external in ("src=", "href=", "<link", "url(", "@import", "http://", "https://"):
        assert external not in page.replace("&lt;img src=x", ""), external
    assert "<script" not in card.markdown and "<img" not in card.markdown
    assert "a \\| b &amp; &lt;c&gt;" not in card.markdown  # facts are not table cells
    assert "- **Limitations:** a | b &amp; &lt;c&gt;" in card.markdown
    assert "| &lt;b&gt;m&lt;/b&gt; | 1 |" in card.markdown


def test_markdown_keeps_only_http_links_and_no_images(registry: RegistryService) -> None:
    hostile = (
        "[docs](https://example.com/docs) [click](javascript:alert(1)) [d](data:text/html,x) "
        "[v](vbscript:msgbox) ![pixel](https://tracker.example/p.png) ![ref][img] [ok][r] [bad][x]\n"
        "[img]: https://tracker.example/q.png\n[r]: https://example.com/r\n[x]: javascript:alert(2)"
    )
    v = _log(registry, lineage=LINEAGE, description=hostile, tags={"intended_use": hostile})
    card = model_card(registry, "churn", v)
    md = card.markdown
    assert "[docs](https://example.com/docs)" in md
    for bad in ("javascript:", "data:text", "vbscript:", "![", "tracker.example/p.png"):
        assert bad not in md, bad
    assert "click" in md and "pixel" in md  # the text stays, as plain text
    assert "[r]: https://example.com/r" in md
    assert "<a " not in card.html and "<img" not in card.html
