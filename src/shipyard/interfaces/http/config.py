"""What ``shipyard serve`` serves and how: built by the CLI, passed to each worker as JSON."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shipyard.interfaces.http.bodies import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES
from shipyard.registry.refs import parse_ref
from shipyard.serving.batching import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_QUEUE_ROWS,
    DEFAULT_MAX_WAIT_MS,
    BatchingConfig,
)
from shipyard.serving.endpoint import EndpointSpec
from shipyard.serving.follower import DEFAULT_INTERVAL_S

ENV_VAR = "SHIPYARD_SERVE_CONFIG"


class EndpointConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    ref: str | None = None
    """The model reference of an implicit deployment; None: a stored deployment named ``name``."""


class ServeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    endpoints: list[EndpointConfig]
    batching: bool = True
    """Adaptive batching: dispatches at once when no other request is on its way, so it costs
    nothing at concurrency 1 and merges concurrent requests into one predict call."""
    max_batch_size: int = Field(default=DEFAULT_MAX_BATCH_SIZE, ge=1)
    max_wait_ms: float = Field(default=DEFAULT_MAX_WAIT_MS, ge=0, le=10)
    max_queue_rows: int = Field(default=DEFAULT_MAX_QUEUE_ROWS, ge=1)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    body_timeout: float = Field(default=DEFAULT_BODY_TIMEOUT_S, gt=0)
    """Seconds a whole request body may take to arrive; a stalled upload gets 408 and is closed."""
    poll_interval: float = Field(default=DEFAULT_INTERVAL_S, gt=0)
    predict_threads: int = Field(default=4, ge=1)
    controller: bool = True
    """Run the controller (rollouts, scheduled monitors) in this server; one wins the lease."""
    controller_tick: float = Field(default=0.5, gt=0)
    strict_mlflow: bool = False
    """Refuse on /invocations what mlflow tolerates (extra columns, a non-object ``params``)."""
    log_predictions: bool = True
    """Write every prediction to the prediction log (for monitoring)."""
    host: str = "127.0.0.1"
    """The bound address: loopback serves without tokens until one exists; any other needs one."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host header values accepted besides the bound address (names behind a proxy)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Web origins that may call the API from a browser (CORS); none by default."""
    open_predict: bool = False
    """Predictions and feedback without a token (other routes still need one)."""
    insecure_no_auth: bool = False
    """Serve a non-loopback address without tokens (only on a network you trust entirely)."""
    protect_metrics: bool = False
    """Require a token for /metrics even on a loopback bind."""
    ignore_audit_chain: bool = False
    """Start even when the audit chain's tip does not verify."""
    allow_code: bool = False
    """Load packages that run their own code even without a recorded ``shipyard trust``."""
    grpc_port: int | None = Field(default=None, ge=0, le=65535)
    """Also serve the V2 gRPC protocol on this port, on ``host`` (needs the ``grpc`` extra)."""
    explain_sample: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of logged requests whose explanation is logged with them (audit)."""
    metrics_dir: str | None = None
    """PROMETHEUS_MULTIPROC_DIR shared by the workers (set when there are several)."""

    def specs(self) -> list[EndpointSpec]:
        batching = (
            BatchingConfig(self.max_batch_size, self.max_wait_ms, self.max_queue_rows)
            if self.batching
            else None
        )
        return [EndpointSpec(e.name, e.ref, batching) for e in self.endpoints]


def endpoint_from_arg(arg: str, name: str | None = None) -> EndpointConfig:
    """``churn@champion`` -> endpoint ``churn``; ``fraud=fraud-model@champion`` -> ``fraud``."""
    if "=" in arg:
        name, _, arg = arg.partition("=")
    ref = parse_ref(arg)
    return EndpointConfig(name=name or ref.name, ref=str(ref))


def endpoint_for_deployment(name: str) -> EndpointConfig:
    return EndpointConfig(name=name, ref=None)
