"""``shipyard k8s``: Kubernetes manifests for the image ``shipyard build`` describes.

Deployment (probes on the V2 health routes, resource requests, a non-root security context, the
bearer token from a Secret as ``SHIPYARD_TOKEN``), Service, HorizontalPodAutoscaler (CPU),
PodDisruptionBudget; with ``ray`` a KubeRay ``RayService`` whose Serve application runs the same
image with ``shipyard serve --backend ray``. Manifests are plain dicts, printed as YAML documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from shipyard.interfaces.deploy.context import PORT, USER_ID


@dataclass(frozen=True)
class K8sOptions:
    name: str
    """The model's name: the endpoint, and the base of every object's name."""
    ref: str
    image: str
    replicas: int = 2
    max_replicas: int | None = None
    token_secret: str | None = None
    cpu: str = "500m"
    memory: str = "512Mi"
    memory_limit: str = "1Gi"

    @property
    def app(self) -> str:
        return f"shipyard-{self.name}".lower().replace("_", "-")

    @property
    def secret(self) -> str:
        return self.token_secret or f"{self.app}-token"


def _labels(o: K8sOptions) -> dict[str, str]:
    return {"app.kubernetes.io/name": o.app, "app.kubernetes.io/part-of": "shipyard"}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container(o: K8sOptions, args: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "shipyard",
        "image": o.image,
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [
            {
                "name": "SHIPYARD_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": o.secret, "key": "token"}},
            }
        ],
        "resources": {
            "requests": {"cpu": o.cpu, "memory": o.memory},
            "limits": {"memory": o.memory_limit},
        },
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 6),
        "startupProbe": _probe("/v2/health/live", 5, 60),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if args:
        container["args"] = args
    return container


def manifests(o: K8sOptions, *, ray: bool = False) -> list[dict[str, Any]]:
    labels = _labels(o)
    meta = {"name": o.app, "labels": labels}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": o.replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 40,
                        "containers": [_container(o)],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": o.app},
                "minReplicas": o.replicas,
                "maxReplicas": o.max_replicas or max(o.replicas * 4, o.replicas + 1),
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
        },
    ]
    if ray:
        docs.append(_ray_service(o))
    return docs


def _ray_service(o: K8sOptions) -> dict[str, Any]:
    """A KubeRay RayService: the Serve app is Shipyard's ingress (see ``interfaces.http.ray_serve``)."""
    container = _container(o)
    container.pop("readinessProbe"), container.pop("livenessProbe"), container.pop("startupProbe")
    head = {**container, "ports": [{"name": "serve", "containerPort": PORT}]}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": f"{o.app}-ray", "labels": _labels(o)},
        "spec": {
            "serveConfigV2": yaml.safe_dump(
                {
                    "applications": [
                        {
                            "name": o.name,
                            "route_prefix": "/",
                            "import_path": "shipyard.interfaces.http.ray_serve:app_from_env",
                            "runtime_env": {"env_vars": {"SHIPYARD_SERVE_REFS": o.ref}},
                        }
                    ]
                },
                sort_keys=False,
            ),
            "rayClusterConfig": {
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": {"spec": {"containers": [head]}},
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        "replicas": o.replicas,
                        "minReplicas": 1,
                        "maxReplicas": o.max_replicas or o.replicas * 4,
                        "rayStartParams": {},
                        "template": {"spec": {"containers": [container]}},
                    }
                ],
            },
        },
    }


def render(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
