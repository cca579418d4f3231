"""The client's per-request proxy and netrc lookups are turned off only where they could find nothing."""

from __future__ import annotations

from pathlib import Path

from kubernetes_asyncio import client

from scheduler.kube.connection import skip_environment_lookups


async def test_lookups_are_off_without_proxy_variables_or_a_netrc(tmp_path: Path) -> None:
    async with client.ApiClient(client.Configuration()) as api:
        assert skip_environment_lookups(api, {"HOME": str(tmp_path)})
        assert api.rest_client.pool_manager.trust_env is False


async def test_a_proxy_variable_or_a_netrc_keeps_them_as_the_client_made_them(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine example.invalid login me password secret\n")
    for environ in ({"HOME": str(tmp_path)}, {"HOME": "/nonexistent", "HTTPS_PROXY": "http://proxy.invalid:3128"}):
        async with client.ApiClient(client.Configuration()) as api:
            assert not skip_environment_lookups(api, environ)
            assert api.rest_client.pool_manager.trust_env is True
