"""The scheduler's configuration: one validated document, from a file, the environment and flags (in that
order of precedence, lowest first). Errors name the file and the field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator

from scheduler.api.base import ApiModel
from scheduler.api.validation import check_topology_levels, dns1123_subdomain_error

DEFAULT_LEVELS = (
    "topology.kubernetes.io/zone",
    "network.phalanx.dev/block",
    "network.phalanx.dev/rack",
    "kubernetes.io/hostname",
)
ENV_PREFIX = "PHALANX_"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the source and the field."""


class SolverConfig(ApiModel):
    time_limit_seconds: Annotated[float, Field(gt=0, le=600)] = 1.0
    improve_seconds: Annotated[float, Field(gt=0, le=600)] = 0.2
    num_workers: Annotated[int, Field(ge=1, le=64)] = 1
    large_model_workers: Annotated[int, Field(ge=1, le=64)] = 2
    max_model_nodes: Annotated[int, Field(ge=1)] = 512
    # A plan proven within this fraction of the best possible is taken without searching on (0: only proven
    # optima end the search early); the gap is reported on the PodGroup either way.
    relative_gap: Annotated[float, Field(ge=0, le=0.5)] = 1e-4
    seed: int = 7


class PreemptionConfig(ApiModel):
    enabled: bool = True
    allow_pdb_violations: bool = True
    own_pods_only: bool = False


class ClientConfig(ApiModel):
    """Rate and concurrency of the API calls: bindings and every other call share them; events have a budget of
    their own of the same size (as kube-scheduler's event recorder has its own client)."""

    qps: Annotated[float, Field(gt=0)] = 500.0
    burst: Annotated[int, Field(ge=1)] = 1000
    bind_concurrency: Annotated[int, Field(ge=1, le=1024)] = 64


class LeaderElectionConfig(ApiModel):
    enabled: bool = True
    lease_namespace: str | None = None  # default: $POD_NAMESPACE, else "default"
    lease_seconds: Annotated[float, Field(ge=1, le=300)] = 15.0


class IntegrationsConfig(ApiModel):
    """Workload controllers whose objects become gangs without a hand-written PodGroup."""

    jobs: bool = True
    job_sets: bool = True
    leader_worker_sets: bool = True


class ProvisioningConfig(ApiModel):
    """Ask a cluster autoscaler for a whole gang's capacity at once (ProvisioningRequest) when it fits nowhere."""

    enabled: bool = False
    provisioning_class_name: Annotated[str, Field(min_length=1, max_length=253)] = (
        "best-effort-atomic-scale-up.autoscaling.x-k8s.io"
    )
    parameters: dict[str, str] = Field(default_factory=dict)
    retry_seconds: Annotated[float, Field(ge=1, le=86400)] = 60.0  # after Failed, before asking again


class SchedulerConfig(ApiModel):
    scheduler_name: str = "phalanx"
    topology_levels: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: list(DEFAULT_LEVELS))
    solver: SolverConfig = Field(default_factory=SolverConfig)
    preemption: PreemptionConfig = Field(default_factory=PreemptionConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    leader_election: LeaderElectionConfig = Field(default_factory=LeaderElectionConfig)
    integrations: IntegrationsConfig = Field(default_factory=IntegrationsConfig)
    provisioning: ProvisioningConfig = Field(default_factory=ProvisioningConfig)
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # Where /metrics and the probes listen; unset: every address inside a cluster (the kubelet probes the pod's
    # IP), loopback outside one (a laptop's scheduler need not be reachable from the network).
    metrics_host: str | None = None

    @field_validator("scheduler_name")
    @classmethod
    def _name(cls, name: str) -> str:
        if err := dns1123_subdomain_error(name):
            raise ValueError(f"schedulerName {name!r} {err}")
        return name

    @field_validator("topology_levels")
    @classmethod
    def _levels(cls, levels: list[str]) -> list[str]:
        return check_topology_levels(levels)


# Environment variables for the settings an operator most often changes per cluster.
ENV_FIELDS = {
    "SCHEDULER_NAME": ("schedulerName",),
    "TOPOLOGY_LEVELS": ("topologyLevels",),  # comma-separated
    "SOLVER_TIME_LIMIT_SECONDS": ("solver", "timeLimitSeconds"),
    "PREEMPTION_ENABLED": ("preemption", "enabled"),
    "CLIENT_QPS": ("client", "qps"),
    "LEASE_NAMESPACE": ("leaderElection", "leaseNamespace"),
    "METRICS_PORT": ("metricsPort",),
    "METRICS_HOST": ("metricsHost",),
    "PROVISIONING_ENABLED": ("provisioning", "enabled"),
    "PROVISIONING_CLASS_NAME": ("provisioning", "provisioningClassName"),
}


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> SchedulerConfig:
    """File, then PHALANX_* environment variables, then flags (`overrides`, nested camelCase keys; `flags` names
    the command-line flag of each). An error names where the bad value came from: the flag, the variable or the
    file."""
    data: dict[str, Any] = {}
    source = "defaults"
    origins: dict[tuple[str, ...], str] = {}
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping")
        data = loaded
    for name, keys in ENV_FIELDS.items():
        value = (env if env is not None else os.environ).get(ENV_PREFIX + name)
        if value is not None:
            _put(data, keys, value.split(",") if name == "TOPOLOGY_LEVELS" else value)
            origins[keys] = f"${ENV_PREFIX}{name}"
    for dotted, value in (overrides or {}).items():
        keys = tuple(dotted.split("."))
        _put(data, keys, value)
        origins[keys] = (flags or {}).get(dotted, dotted)
    try:
        return SchedulerConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(str(p) for p in error["loc"])
        origin = next((origins[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in origins), source)
        where = ".".join(loc) or "<document>"
        raise ConfigError(f"{origin}: {where}: {error['msg'].removeprefix('Value error, ')}") from exc


def _put(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value
