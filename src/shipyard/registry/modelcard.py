"""Model cards: a version's facts as Markdown and as one self-contained HTML page.

The card is built only from what the registry knows (the version row, its manifest, its reference
profile, its alias history and, when a ``GovernanceService`` is given, its approvals) plus an optional
``evaluation`` against the champion. Sections follow Mitchell et al., *Model Cards for Model
Reporting* (2019), where data exists: Model Details, Intended Use, Metrics, Training Data, Evaluation
and Quantitative Analyses (with an evaluation), Lineage, Approvals, Alias History, and Caveats and
Recommendations, which lists what is unknown rather than guessing it.

User-provided text comes from version tags: ``intended_use`` (else the model's description),
``limitations`` and ``ethical_considerations``. Everything is escaped in HTML (Jinja2 autoescape: ``templates/modelcard.html``), and the
page has embedded CSS and no external resource (no script, link, image or URL fetch). In Markdown, raw
HTML is escaped, links keep only http(s) targets (``javascript:``, ``data:`` and the rest become
plain text) and images become their alt text, so a viewer fetches nothing remote.

``evaluation`` shape (every key optional)::

    {"champion": "churn/2", "dataset": "holdout 2026-11",
     "metrics": {"auc": {"candidate": 0.91, "champion": 0.89}, "rows": 5000},
     "slices": {"region=north": {"auc": 0.90}, "region=south": {"auc": 0.93}}}

Other scalar keys are listed as facts; ``slices`` feeds the Quantitative Analyses table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFound
from shipyard.core.templates import render
from shipyard.package.manifest import Manifest
from shipyard.registry.entities import AliasEvent, ModelVersion
from shipyard.registry.service import RegistryService
from shipyard.stats.profile import CategoricalProfile, DatasetProfile, NumericProfile

if TYPE_CHECKING:
    from shipyard.registry.governance import GovernanceService

PROFILE_FILE = "profile.json"


@dataclass(frozen=True)
class ModelCard:
    markdown: str
    html: str
    sections: tuple[CardSection, ...] = ()
    """The content, for pages that draw the card themselves (the console)."""


# -- the card's content, independent of its format ----------------------------------------------------


@dataclass
class CardSection:
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, Sequence[str], list[Sequence[str]]]] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def model_card(
    registry: RegistryService,
    name: str,
    version: int,
    *,
    governance: GovernanceService | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> ModelCard:
    """The card of ``name/version`` (``NotFound`` if it does not exist). Without ``evaluation``, the
    latest champion/challenger evaluation recorded for the version (audit ``evaluation``) is used."""
    mv = registry.get_version(name, version)
    if evaluation is None:
        evaluation = _recorded_evaluation(registry, mv.ref)
    model = registry.get_model(name)
    manifest = registry.manifest(mv)
    caveats: list[str] = []
    sections = [_details(mv, manifest)]

    intended = mv.tags.get("intended_use") or model.description
    use = CardSection("Intended Use")
    if intended:
        use.text.append(intended)
    else:
        use.text.append("Not stated.")
        caveats.append(
            "Intended use is not stated: set the version tag `intended_use` or the model description."
        )
    sections.append(use)

    metrics = CardSection("Metrics")
    if mv.metrics:
        metrics.tables.append(
            ("", ["metric", "value"], [[k, _fmt(v)] for k, v in mv.metrics.items()])
        )
    else:
        metrics.text.append("No metrics were recorded with this version.")
        caveats.append("No metrics were recorded when the version was logged.")
    if mv.params:
        metrics.tables.append(
            ("Parameters", ["parameter", "value"], [[k, _fmt(v)] for k, v in mv.params.items()])
        )
    sections.append(metrics)

    sections.append(_training_data(registry, mv, manifest, caveats))
    sections.append(_importance(registry, mv, manifest, caveats))
    if evaluation is not None:
        sections.extend(_evaluation(evaluation, caveats))
    else:
        caveats.append("No evaluation against the champion was attached to this card.")

    lineage = CardSection("Lineage")
    lin = manifest.lineage
    lineage.facts.append(("Parent version", lin.parent or "none recorded"))
    lineage.facts.extend((str(k), _fmt(v)) for k, v in lin.extra.items())
    sections.append(lineage)

    if governance is not None:
        sections.append(_approvals(governance, name, version, caveats))
    sections.append(_alias_history(registry, name, version))

    final = CardSection("Caveats and Recommendations")
    for tag, label in (
        ("limitations", "Limitations"),
        ("ethical_considerations", "Ethical considerations"),
    ):
        if mv.tags.get(tag):
            final.facts.append((label, mv.tags[tag]))
        else:
            caveats.append(f"{label} are not documented (version tag `{tag}`).")
    final.bullets.extend(caveats)
    sections.append(final)

    title = f"Model card: {mv.name}/{mv.version}"
    return ModelCard(
        markdown=render_markdown(title, sections),
        html=render_html(title, sections),
        sections=tuple(sections),
    )


def _details(mv: ModelVersion, manifest: Manifest) -> CardSection:
    flavor = manifest.flavor
    section = CardSection("Model Details")
    section.facts.extend(
        [
            ("Model", mv.name),
            ("Version", str(mv.version)),
            ("Description", mv.description or "-"),
            ("Flavor", mv.flavor),
            ("Framework", f"{flavor.framework} {flavor.framework_version}"),
            ("Serialization", flavor.serialization),
            ("Python", manifest.requirements.python),
            ("Created", f"{mv.created_at.isoformat(timespec='seconds')} by {mv.created_by}"),
            ("Package digest", mv.digest),
            ("Size", f"{mv.size_bytes} bytes"),
            ("Aliases", " ".join("@" + a for a in mv.aliases) or "-"),
            ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(mv.tags.items())) or "-"),
            ("Packaged with", f"shipyard {manifest.shipyard_version}"),
        ]
    )
    return section


def _training_data(
    registry: RegistryService, mv: ModelVersion, manifest: Manifest, caveats: list[str]
) -> CardSection:
    lin = manifest.lineage
    section = CardSection("Training Data")
    section.facts.extend(
        [
            ("Dataset", lin.dataset_name or "-"),
            ("Dataset URI", lin.dataset_uri or "-"),
            ("Data digest", lin.data_digest or "-"),
            ("Git commit", (lin.git_commit or "-") + (" (dirty)" if lin.git_dirty else "")),
            ("Git repository", lin.git_repository or "-"),
        ]
    )
    if not (lin.dataset_name or lin.dataset_uri):
        caveats.append("The training dataset is not named (no dataset name or URI recorded).")
    if not lin.git_commit:
        caveats.append("The training code's git commit is unknown.")
    elif lin.git_dirty:
        caveats.append("The model was packaged from a git working tree with uncommitted changes.")
    raw = registry.package_file(mv, manifest.profile or PROFILE_FILE)
    data = json.loads(raw) if raw is not None else {}
    if "inputs" not in data:
        caveats.append("No reference profile: the training data's distribution is unknown.")
        return section
    profile = DatasetProfile.from_dict(data["inputs"])
    rows: list[Sequence[str]] = []
    for column, col in profile.columns.items():
        if isinstance(col, NumericProfile):
            m = col.moments
            summary = (
                f"mean {_fmt(m.mean)}, std {_fmt(m.std)}, range [{_fmt(m.min)}, {_fmt(m.max)}]"
            )
        else:
            seen = col.rows - col.missing
            top = ", ".join(
                f"{c} {_pct(n, seen)}" for c, n in zip(col.categories[:5], col.counts, strict=False)
            )
            summary = f"top: {top or '-'} ({col.distinct} distinct)"
        kind = (
            "numeric (discrete)" if isinstance(col, CategoricalProfile) and col.levels else col.kind
        )
        rows.append([column, kind, _pct(col.missing, col.rows), summary])
    section.tables.append(
        (f"Reference profile ({profile.rows} rows)", ["column", "kind", "missing", "summary"], rows)
    )
    return section


def _importance(
    registry: RegistryService, mv: ModelVersion, manifest: Manifest, caveats: list[str]
) -> CardSection:
    """Global importance recorded at packaging: mean |attribution| per input column."""
    section = CardSection("Feature Importance")
    raw = registry.package_file(mv, manifest.profile or PROFILE_FILE)
    found = (json.loads(raw) if raw is not None else {}).get("explain", {}).get("importance")
    if not found:
        section.text.append(
            "Not recorded: importance is computed at packaging only where it is exact "
            "(tree ensembles, linear models) and a sample was given."
        )
        caveats.append("No global feature importance was recorded for this version.")
        return section
    columns = found.get("columns", {})
    total = sum(abs(v) for v in columns.values()) or 1.0
    ranked = sorted(columns.items(), key=lambda kv: -abs(kv[1]))
    section.text.append(
        f"Mean absolute {found.get('method')} attribution per input column over "
        f"{found.get('rows')} reference rows (output: {found.get('output')}); derived features "
        "(one-hot, scaled...) are summed onto the column they come from."
    )
    section.tables.append(
        (
            "",
            ["column", "mean |attribution|", "share"],
            [[c, _fmt(v), f"{abs(v) / total:.1%}"] for c, v in ranked],
        )
    )
    return section


def _evaluation(evaluation: Mapping[str, Any], caveats: list[str]) -> list[CardSection]:
    section = CardSection("Evaluation")
    section.facts.extend(
        (str(k), _fmt(v))
        for k, v in evaluation.items()
        if k not in ("metrics", "slices") and not isinstance(v, Mapping)
    )
    rows: list[Sequence[str]] = []
    for metric, value in dict(evaluation.get("metrics") or {}).items():
        if isinstance(value, Mapping):
            ours, champ = value.get("candidate", value.get("challenger")), value.get("champion")
            delta = value.get("delta")
            if delta is None and isinstance(ours, int | float) and isinstance(champ, int | float):
                delta = float(ours) - float(champ)
            rows.append([str(metric), _fmt(ours), _fmt(champ), _fmt(delta)])
        else:
            rows.append([str(metric), _fmt(value), "-", "-"])
    if rows:
        section.tables.append(("", ["metric", "this version", "champion", "delta"], rows))
    else:
        section.text.append("No evaluation metrics were provided.")
    analyses = CardSection("Quantitative Analyses")
    slices: Mapping[str, Any] = evaluation.get("slices") or {}
    names = sorted({str(m) for v in slices.values() if isinstance(v, Mapping) for m in v})
    if slices and names:
        analyses.tables.append(
            (
                "",
                ["slice", *names],
                [
                    [str(s), *(_fmt(v.get(m)) if isinstance(v, Mapping) else "-" for m in names)]
                    for s, v in slices.items()
                ],
            )
        )
    else:
        analyses.text.append("No disaggregated (per-slice) results were provided.")
        caveats.append("Performance across subgroups (slices) is unknown.")
    return [section, analyses]


def _approvals(
    governance: GovernanceService, name: str, version: int, caveats: list[str]
) -> CardSection:
    status = governance.status(name, version)
    protected = governance.list_protected(name)
    section = CardSection("Approvals")
    section.facts.extend(
        [
            ("Status", status.status),
            ("Approvers", f"{len(set(status.approved_by))} of {status.required} required"),
            (
                "Protected aliases",
                ", ".join(f"@{p.alias} ({p.required_approvals})" for p in protected) or "none",
            ),
        ]
    )
    if status.approvals:
        section.tables.append(
            (
                "",
                ["when", "actor", "decision", "comment"],
                [
                    [a.at.isoformat(timespec="seconds"), a.actor, a.decision, a.comment or "-"]
                    for a in status.approvals
                ],
            )
        )
    if status.status != "approved":
        caveats.append(f"This version is {status.status}, not approved.")
    return section


def _alias_names(registry: RegistryService, name: str) -> set[str]:
    """Current aliases plus every alias the audit log shows was ever set or deleted."""
    names = {a.alias for a in registry.list_aliases(name)}
    for event in registry.audit(action="alias.", target=name, limit=100_000):
        if event.target.startswith(f"{name}@"):
            names.add(event.target.split("@", 1)[1])
    return names


def _alias_history(registry: RegistryService, name: str, version: int) -> CardSection:
    events: list[AliasEvent] = []
    for alias in _alias_names(registry, name):
        try:
            history = registry.alias_history(name, alias)
        except NotFound:
            continue
        events.extend(e for e in history if version in (e.from_version, e.to_version))
    events.sort(key=lambda e: (e.at, e.id))
    section = CardSection("Alias History")
    if not events:
        section.text.append("This version has never been the target of an alias.")
        return section
    section.tables.append(
        (
            "",
            ["when", "alias", "from", "to", "actor", "reason"],
            [
                [
                    e.at.isoformat(timespec="seconds"),
                    "@" + e.alias,
                    _fmt(e.from_version),
                    "(deleted)" if e.to_version is None else str(e.to_version),
                    e.actor,
                    e.reason or "-",
                ]
                for e in events
            ],
        )
    )
    return section


# -- rendering ----------------------------------------------------------------------------------------


_IMAGE = re.compile(r"!\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])?")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(\S*).*$", re.MULTILINE)
_SAFE_SCHEMES = ("http://", "https://")


def _safe_url(url: str) -> bool:
    return url.strip().strip("<>").lower().startswith(_SAFE_SCHEMES)


def _neutralise_links(text: str) -> str:
    """Only http(s) links survive; images never do (a card must not fetch remote content)."""
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(
        lambda m: (
            m.group(0)
            if _safe_url(m.group(2).split()[0] if m.group(2).split() else "")
            else m.group(1)
        ),
        text,
    )
    return _REFERENCE.sub(lambda m: m.group(0) if _safe_url(m.group(1)) else "", text)


def _md(text: str) -> str:
    """Markdown text with raw HTML neutralised (a viewer must not run a user's ``<script>``), only
    http(s) links, and no images."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _neutralise_links(text)


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def render_markdown(title: str, sections: Sequence[CardSection]) -> str:
    out = [f"# {_md(title)}", ""]
    for s in sections:
        out += [f"## {_md(s.title)}", ""]
        if s.facts:
            out += [f"- **{_md(k)}:** {_md(v).replace(chr(10), ' ')}" for k, v in s.facts] + [""]
        for paragraph in s.text:
            out += [_md(paragraph), ""]
        for caption, headers, rows in s.tables:
            if caption:
                out += [f"### {_md(caption)}", ""]
            out.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
            out.append("|" + "---|" * len(headers))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("")
        if s.bullets:
            out += [f"- {_md(b)}" for b in s.bullets] + [""]
    return "\n".join(out).rstrip() + "\n"


def render_html(title: str, sections: Sequence[CardSection]) -> str:
    """The card as one self-contained page (``templates/modelcard.html``, autoescaped)."""
    return render("shipyard.registry", "modelcard.html", title=title, sections=sections)


def _recorded_evaluation(registry: RegistryService, ref: str) -> dict[str, Any] | None:
    events = registry.audit(action="evaluation", target=ref, limit=1)
    if not events:
        return None
    d = events[0].details
    champion, challenger = d.get("champion") or {}, d.get("challenger") or {}
    shared = sorted(set(champion.get("metrics", {})) & set(challenger.get("metrics", {})) - {"n"})
    return {
        "champion": champion.get("ref"),
        "verdict": d.get("verdict"),
        "holdout rows": d.get("rows"),
        "reasons": "; ".join(d.get("reasons") or []) or "cleared every criterion",
        "metrics": {
            m: {"candidate": challenger["metrics"][m], "champion": champion["metrics"][m]}
            for m in shared
        },
    }
