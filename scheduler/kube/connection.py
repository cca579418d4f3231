"""Credentials from a kubeconfig (or the in-cluster service account), for kopf and kubernetes-asyncio alike."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
import yaml
from kubernetes_asyncio import client

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(RuntimeError):
    """A kubeconfig or service account that cannot be used."""


@dataclass(frozen=True)
class Connection:
    server: str
    token: str | None = None
    ca_path: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None
    insecure: bool = False

    def kopf_info(self) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=self.server,
            token=self.token,
            ca_path=self.ca_path,
            certificate_path=self.certificate_path,
            private_key_path=self.private_key_path,
            insecure=self.insecure,
            scheme="Bearer" if self.token else None,
        )

    def client_configuration(self) -> client.Configuration:
        config = client.Configuration()
        config.host = self.server
        config.verify_ssl = not self.insecure
        if self.ca_path:
            config.ssl_ca_cert = self.ca_path
        if self.certificate_path and self.private_key_path:
            config.cert_file, config.key_file = self.certificate_path, self.private_key_path
        if self.token:
            config.api_key = {"BearerToken": self.token}
            config.api_key_prefix = {"BearerToken": "Bearer"}
        return config


def load_connection(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """From `kubeconfig` (or $KUBECONFIG, or ~/.kube/config), else the in-cluster service account."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if kubeconfig is None and not Path(path).exists() and (SERVICE_ACCOUNT / "token").exists():
        return _in_cluster()
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    try:
        return _from_kubeconfig(raw, context, Path(path).parent)
    except (KeyError, TypeError, StopIteration) as exc:
        raise KubeconfigError(f"kubeconfig {path} is incomplete: {exc!r}") from exc


def _from_kubeconfig(raw: dict[str, Any], context: str | None, base: Path) -> Connection:
    name = context or raw["current-context"]
    ctx = next(c["context"] for c in raw["contexts"] if c["name"] == name)
    cluster = next(c["cluster"] for c in raw["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in raw["users"] if u["name"] == ctx["user"])
    return Connection(
        server=cluster["server"],
        token=user.get("token"),
        ca_path=_file(cluster, "certificate-authority", base),
        certificate_path=_file(user, "client-certificate", base),
        private_key_path=_file(user, "client-key", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def _file(section: dict[str, Any], key: str, base: Path) -> str | None:
    """A path, or inline `-data` written to a private temporary file (the TLS libraries want files)."""
    if key in section:
        path = Path(section[key])
        return str(path if path.is_absolute() else base / path)
    data = section.get(f"{key}-data")
    if data is None:
        return None
    handle, name = tempfile.mkstemp(prefix="phalanx-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(base64.b64decode(data))
    return name


def _in_cluster() -> Connection:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeconfigError("no kubeconfig and KUBERNETES_SERVICE_HOST is not set")
    return Connection(
        server=f"https://{host}:{port}",
        token=(SERVICE_ACCOUNT / "token").read_text().strip(),
        ca_path=str(SERVICE_ACCOUNT / "ca.crt"),
    )


# What aiohttp's trust_env reads on every request: the proxy variables (either case) and a netrc file.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy", "no_proxy")


def skip_environment_lookups(api: client.ApiClient, environ: Mapping[str, str] | None = None) -> bool:
    """kubernetes-asyncio opens its aiohttp session with trust_env=True, so every request looks up the proxy
    variables and reads ~/.netrc, in a thread: a fifth of the operator's time at hundreds of bindings a second.
    Where no proxy variable is set and there is no netrc file, those lookups can only find nothing, so they are
    turned off; otherwise the session is left as the client made it. True when they were turned off."""
    environ = os.environ if environ is None else environ
    if any(environ.get(v) or environ.get(v.upper()) for v in PROXY_VARIABLES):
        return False
    netrc = Path(environ["NETRC"]) if environ.get("NETRC") else Path(environ.get("HOME", "~")).expanduser() / ".netrc"
    if netrc.exists():
        return False
    session = getattr(getattr(api, "rest_client", None), "pool_manager", None)
    if session is None or not hasattr(session, "_trust_env"):
        return False  # a client version that no longer does this: nothing to turn off
    session._trust_env = False
    return True
