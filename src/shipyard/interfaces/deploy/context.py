"""``shipyard build``: a container build context that serves one model version.

The context holds the verified package (``model/``), ``requirements.txt`` pinned from the versions
the package recorded when it was made, an ``entrypoint.sh`` that registers the package into the
container's own registry on first start and serves it, and a ``Dockerfile``: a slim Python base of
the package's Python version, a non-root user, and a health check on the V2 readiness route.
No Docker daemon is needed to write it; any builder (docker, buildah, kaniko) builds it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from shipyard._version import __version__
from shipyard.core.errors import AlreadyExists
from shipyard.registry.entities import ModelVersion
from shipyard.registry.service import RegistryService

PORT = 8000
USER_ID = 10001
SKIPPED = {"shipyard", "pip", "setuptools", "wheel"}

DOCKERFILE = """\
# Built by `shipyard build {ref}`: serves {name} version {version} on port {port}.
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    SHIPYARD_HOME=/home/shipyard/.shipyard \\
    PORT={port}

# Shipyard itself: a release by default; a wheel copied into the context works too.
ARG SHIPYARD_SPEC="shipyard=={shipyard_version}"

RUN useradd --create-home --uid {uid} --shell /usr/sbin/nologin shipyard

WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt "${{SHIPYARD_SPEC}}"

COPY --chown=shipyard:shipyard model/ /app/model/
COPY --chown=shipyard:shipyard entrypoint.sh /app/entrypoint.sh

USER {uid}
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \\
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{{os.environ[\\"PORT\\"]}}/v2/health/ready', timeout=2)"]
ENTRYPOINT ["sh", "/app/entrypoint.sh"]
"""

ENTRYPOINT = """\
#!/bin/sh
# Registers the bundled package on first start (an empty SHIPYARD_HOME, or a shared registry that
# lacks it), then serves it. Settings come from SHIPYARD_* variables (SHIPYARD_TOKEN, S3, ...).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
name="{name}"
if ! shipyard models show "$name" >/dev/null 2>&1; then
  shipyard register "$here/model" --name "$name" >/dev/null
fi
exec shipyard serve "$name=$name@latest" --host "${{HOST:-0.0.0.0}}" --port "${{PORT:-{port}}}" \\
  --log-format json "$@"
"""

DOCKERIGNORE = "**/__pycache__\n**/*.pyc\n.git\n"


@dataclass(frozen=True)
class BuildContext:
    directory: Path
    version: ModelVersion
    python: str
    requirements: list[str]

    @property
    def image(self) -> str:
        return f"shipyard-{self.version.name}:{self.version.version}"


def requirements_of(packages: dict[str, str]) -> list[str]:
    """``name==version`` lines, sorted, without Shipyard and the packaging tools."""
    return [
        f"{name}=={version}"
        for name, version in sorted(packages.items(), key=lambda kv: kv[0].lower())
        if name.lower() not in SKIPPED and version and version != "unknown"
    ]


def write_context(
    registry: RegistryService, ref: str, directory: Path, *, force: bool = False
) -> BuildContext:
    """Write the build context of ``ref`` into ``directory`` (which must be new or empty)."""
    version = registry.resolve(ref)
    package, manifest = registry.fetch(version)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise AlreadyExists(f"{directory} is not empty; choose a new directory or pass --force")
    if directory.exists() and force:
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(package, directory / "model")
    python = ".".join(manifest.requirements.python.split(".")[:2])
    requirements = requirements_of(manifest.requirements.packages)
    (directory / "requirements.txt").write_text(
        f"# pinned from the environment {version.ref} was packaged in\n"
        + "".join(f"{line}\n" for line in requirements)
    )
    values = {
        "ref": ref,
        "name": version.name,
        "version": version.version,
        "python": python,
        "port": PORT,
        "uid": USER_ID,
        "shipyard_version": __version__,
    }
    (directory / "Dockerfile").write_text(DOCKERFILE.format(**values))
    (directory / "entrypoint.sh").write_text(ENTRYPOINT.format(**values))
    (directory / "entrypoint.sh").chmod(0o755)
    (directory / ".dockerignore").write_text(DOCKERIGNORE)
    return BuildContext(directory, version, python, requirements)
