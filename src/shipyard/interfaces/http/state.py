"""The per-app state the routes share: the data plane, its follower, metrics and limits."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard.app import Services
from shipyard.interfaces.http.config import ServeConfig
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.follower import RegistryFollower
from shipyard.serving.metrics import ServingMetrics
from shipyard.telemetry.feedback import FeedbackLog


@dataclass
class ServerState:
    config: ServeConfig
    dataplane: DataPlane
    follower: RegistryFollower
    metrics: ServingMetrics
    feedback: FeedbackLog | None = None
    services: Services | None = None

    def default_endpoint(self) -> str | None:
        """The endpoint of routes without a model name (MLflow's /invocations): the only one."""
        names = list(self.dataplane.endpoints)
        return names[0] if len(names) == 1 else None


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.shipyard
    return state
