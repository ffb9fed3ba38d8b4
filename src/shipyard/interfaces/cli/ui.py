"""``shipyard ui``: the web console alone, over the registry (no model is served)."""

from __future__ import annotations

import typer

from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import err_console


def ui(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8001, min=0, max=65535),
    allowed_host: list[str] = typer.Option(
        [], "--allowed-host", help="Also accept this Host header (a name behind a proxy)."
    ),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve a non-loopback address without any token."
    ),
    ignore_audit_chain: bool = typer.Option(
        False, "--ignore-audit-chain", help="Start even if the audit chain does not verify."
    ),
    log_level: str = typer.Option("warning"),
) -> None:
    """Open the web console at http://HOST:PORT/ui (sign in with a token once any exists)."""
    import uvicorn

    from shipyard.interfaces.console.app import create_console_app
    from shipyard.interfaces.http import server
    from shipyard.interfaces.http.config import ServeConfig

    config = ServeConfig(
        endpoints=[],
        controller=False,
        log_predictions=False,
        host=host,
        allowed_hosts=allowed_host,
        insecure_no_auth=insecure_no_auth,
        ignore_audit_chain=ignore_audit_chain,
    )
    app = create_console_app(services(ctx), config)  # refuses a public bind without tokens
    sock = server.listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"console at http://{shown}:{sock.getsockname()[1]}/ui", markup=False)
    uv = uvicorn.Config(app, log_level=log_level, server_header=False, http="h11")
    try:
        uvicorn.Server(uv).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
