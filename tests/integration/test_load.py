"""Load on a real kube-apiserver: 1,000 gangs (5,000 pods) created at once on 500 nodes with room for about four
in five. Every gang ends bound whole or explained, none partly, no decision overruns the solver time limit, and
gangs are decided at most twice each on average (the operator's own metrics say so). hack/bench_load.py runs the
same scenario and prints its figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.conftest import install_crds
from tests.integration.loadgen import decision_times, gang_load, mixed_gangs, peak_rss_mib, warm_up
from tests.integration.operator_harness import OperatorProcess, api_client_for, make_nodes

pytestmark = pytest.mark.slow

GANGS = 1000  # of 3-7 pods (5 on average), one GPU each
RACKS, PER_RACK = 20, 25  # 500 nodes of 8 GPUs: room for 4,000 of the 5,000 pods
WITHIN_S = 300.0


@pytest.fixture(scope="module")
def server(k8s_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server of its own (stopped after this module): on the shared one, other modules' operators would
    schedule these pods too."""
    with ApiServer(k8s_bin_dir, tmp_path_factory.mktemp("load")) as server:
        yield server


@pytest.fixture
def operator(server: ApiServer, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(server.kubeconfig_path, tmp_path / "operator.log", "--no-leader-election")
    try:
        yield process
    finally:
        process.stop()
        print(process.log_tail(100))  # shown on failure


async def test_a_thousand_gangs_at_once_end_whole_or_explained_within_the_time_limit(
    server: ApiServer, operator: OperatorProcess
) -> None:
    await install_crds(server.kubeconfig_path)
    async with api_client_for(server.kubeconfig_path) as api:
        core: Any = client.CoreV1Api(api)
        await make_nodes(api, "load", racks=RACKS, per_rack=PER_RACK)
        for namespace in ("warm-up", "load"):
            await core.create_namespace({"metadata": {"name": namespace}})
        await warm_up(api, "warm-up", "load", "phalanx")
        result = await gang_load(api, "load", mixed_gangs("load", GANGS), within=WITHIN_S)
    times = decision_times(operator.metrics_url)
    print(f"{result}\n{times}\npeak RSS {peak_rss_mib(operator.proc.pid):.0f} MiB")

    assert result.outcome.partial == 0, f"{result.outcome.stranded_pods} pods stranded in partial gangs"
    assert result.outcome.whole + result.explained == GANGS
    assert result.outcome.whole >= GANGS * 3 // 4  # room for ~4/5: a scheduler that gives up early fails too
    assert "Insufficient nvidia.com/gpu" in result.sample_message
    assert times.over_limit == 0, f"longest decision {times.max_s:.2f} s, limit {times.limit_s:g} s"
    # A gang is decided again only when something that could change its answer happened (engine/backoff.py):
    # its own pods arriving, room freed. Statuses and conditions we write, echoed back by the watch, are not.
    assert times.decisions <= 2 * GANGS, f"{times.decisions} decisions for {GANGS} gangs"
