"""The console's routes: each a page (GET) or a button (POST), with its permission in
``http.permissions.OPERATIONS`` like every other route."""

from __future__ import annotations

from importlib import resources

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard.interfaces.console import (
    audit,
    governance,
    models,
    monitoring,
    overview,
    rollouts,
    signin,
    story,
)
from shipyard.interfaces.console.render import action, page
from shipyard.interfaces.http.sessions import CONSOLE as C


def routes() -> list[BaseRoute]:
    static = str(resources.files("shipyard.interfaces.console") / "static")
    return [
        Mount(f"{C}/static", app=StaticFiles(directory=static), name="console-static"),
        Route(f"{C}/sign-in", signin.sign_in_form, methods=["GET"]),
        Route(f"{C}/sign-in", signin.sign_in, methods=["POST"]),
        Route(f"{C}/sign-out", signin.sign_out, methods=["POST"]),
        Route(C, page("overview.html", overview.overview), methods=["GET"]),
        Route(f"{C}/models", page("models.html", models.models), methods=["GET"]),
        Route(f"{C}/models/{{name}}", page("model.html", models.model), methods=["GET"]),
        Route(
            f"{C}/models/{{name}}/versions/{{version}}",
            page("version.html", models.version),
            methods=["GET"],
        ),
        Route(
            f"{C}/models/{{name}}/compare", page("compare.html", models.compare), methods=["GET"]
        ),
        Route(
            f"{C}/models/{{name}}/aliases/{{alias}}/rollback",
            action(models.rollback_alias),
            methods=["POST"],
        ),
        Route(
            f"{C}/endpoints/{{name}}/monitoring",
            page("monitoring.html", monitoring.monitoring),
            methods=["GET"],
        ),
        Route(f"{C}/endpoints/{{name}}/story", page("story.html", story.story), methods=["GET"]),
        Route(f"{C}/rollouts", page("rollouts.html", rollouts.rollouts), methods=["GET"]),
        Route(f"{C}/rollouts/{{name}}", page("rollout.html", rollouts.live), methods=["GET"]),
        Route(
            f"{C}/rollouts/{{name}}/live", page("rollout_live.html", rollouts.live), methods=["GET"]
        ),
        Route(f"{C}/rollouts/{{name}}/events", rollouts.events, methods=["GET"]),
        Route(
            f"{C}/rollouts/{{name}}/{{action}}", action(rollouts.rollout_action), methods=["POST"]
        ),
        Route(f"{C}/approvals", page("approvals.html", governance.approvals), methods=["GET"]),
        Route(
            f"{C}/approvals/{{name}}/{{version}}/{{decision}}",
            action(governance.decide),
            methods=["POST"],
        ),
        Route(f"{C}/alerts", page("alerts.html", audit.alerts), methods=["GET"]),
        Route(f"{C}/audit", page("audit.html", audit.audit), methods=["GET"]),
    ]
