"""Writes whose answers nobody reads: checked but not parsed, and events on a budget of their own."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from scheduler.kube.api import KubeApi


class Answer:
    """A raw (`_preload_content=False`) answer, as aiohttp gives it."""

    def __init__(self, status: int, body: bytes = b"{}") -> None:
        self.status, self.body, self.reason = status, body, ""
        self.headers: dict[str, str] = {}
        self.read_back = self.released = False

    async def read(self) -> bytes:
        self.read_back = True
        return self.body

    def release(self) -> None:
        self.released = True


async def test_events_do_not_spend_the_budget_bindings_go_out_on() -> None:
    async with client.ApiClient(client.Configuration()) as raw:
        api = KubeApi(raw, qps=0.001, burst=3)
        answers: list[Answer] = []

        async def create_event(namespace: str, body: Any, **options: Any) -> Answer:
            assert options.get("_preload_content") is False
            answers.append(Answer(201))
            return answers[-1]

        api.core.create_namespaced_event = create_event
        for _ in range(3):
            await api.post_event({"kind": "Pod", "namespace": "ml", "name": "p"}, "Normal", "Scheduled", "bound")
        assert len(answers) == 3
        assert all(a.read_back and a.released for a in answers)  # read to the end: the connection is reused
        assert api.bucket.tokens == pytest.approx(3, abs=0.01)  # the bindings' burst is untouched
        assert api.event_bucket.tokens < 1


async def test_a_refused_write_raises_with_the_servers_answer_though_it_is_not_parsed() -> None:
    async with client.ApiClient(client.Configuration()) as raw:
        api = KubeApi(raw)

        async def patch(*args: Any, **options: Any) -> Answer:
            return Answer(422, b'{"message": "conditions: Invalid value"}')

        api.core.patch_namespaced_pod_status = patch
        with pytest.raises(client.ApiException) as refused:
            await api.set_pod_condition("ml/p", {"type": "PodScheduled", "status": "False"})
        assert refused.value.status == 422
        assert refused.value.body == b'{"message": "conditions: Invalid value"}'
