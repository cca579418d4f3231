"""API errors are classified once, at the adapter boundary: what may pass if tried again, and what never will."""

from __future__ import annotations

import aiohttp
import pytest
from kubernetes_asyncio import client

from scheduler.engine.effects import Outcome
from scheduler.kube.api import BindingRefusedError, RetryableConflictError
from scheduler.kube.effects import classify


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        pytest.param(client.ApiException(status=429), Outcome.TRANSIENT, id="throttled"),
        pytest.param(client.ApiException(status=500), Outcome.TRANSIENT, id="server-error"),
        pytest.param(client.ApiException(status=503), Outcome.TRANSIENT, id="unavailable"),
        pytest.param(client.ApiException(status=409), Outcome.TRANSIENT, id="conflict-on-a-write"),
        pytest.param(aiohttp.ServerDisconnectedError(), Outcome.TRANSIENT, id="dropped-connection"),
        pytest.param(TimeoutError(), Outcome.TRANSIENT, id="timeout"),
        pytest.param(RetryableConflictError("unbound"), Outcome.TRANSIENT, id="binding-conflict-on-an-unbound-pod"),
        pytest.param(BindingRefusedError("elsewhere"), Outcome.PERMANENT, id="binding-refused"),
        pytest.param(client.ApiException(status=403), Outcome.PERMANENT, id="forbidden"),
        pytest.param(client.ApiException(status=404), Outcome.PERMANENT, id="not-found"),
        pytest.param(client.ApiException(status=422), Outcome.PERMANENT, id="invalid"),
        pytest.param(ValueError("a bug"), Outcome.PERMANENT, id="unexpected"),
    ],
)
def test_each_api_failure_is_classified_as_kubernetes_conventions_say(error: BaseException, outcome: Outcome) -> None:
    assert classify(error) is outcome
