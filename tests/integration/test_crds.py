"""The generated CRDs on a real kube-apiserver: accepted, validating, defaulting, and printing columns."""

from __future__ import annotations

import json
import ssl
import uuid
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client

from scheduler.api.podgroup import PodGroup
from scheduler.api.policy import DisruptionMode
from scheduler.api.workload import GROUP, VERSION
from tests.integration.apiserver import ApiServer

pytestmark = pytest.mark.usefixtures("phalanx_crds")
NAMESPACE = "default"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def workload(object_name: str, **template: Any) -> dict[str, Any]:
    base = {"name": "workers", "schedulingPolicy": {"gang": {"minCount": 4}}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {"name": object_name},
        "spec": {"podGroupTemplates": [{**base, **template}]},
    }


def pod_group(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"schedulingPolicy": {"gang": {"minCount": 2}}, **spec},
    }


async def create(api: client.ApiClient, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    objects = client.CustomObjectsApi(api)
    created: dict[str, Any] = await objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, body)
    return created


async def rejection(api: client.ApiClient, plural: str, body: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as exc:
        await create(api, plural, body)
    assert exc.value.status == 422, exc.value.body
    message: str = json.loads(exc.value.body or "{}")["message"]
    return message


async def test_the_generated_crds_are_established(phalanx_crds: list[str]) -> None:
    assert phalanx_crds == [f"podgroups.{GROUP}", f"workloads.{GROUP}"]


async def test_a_valid_workload_is_accepted_and_defaulted(api_client: client.ApiClient) -> None:
    topology = {"topology": [{"key": "network.phalanx.dev/rack"}]}
    created = await create(api_client, "workloads", workload(unique("wl"), schedulingConstraints=topology))
    template = created["spec"]["podGroupTemplates"][0]
    assert template["disruptionMode"] == "Pod"
    assert template["preemptionPolicy"] == "PreemptLowerPriority"
    assert template["replicas"] == 1
    assert template["schedulingConstraints"]["topology"][0]["mode"] == "Required"


async def test_a_valid_pod_group_is_accepted(api_client: client.ApiClient) -> None:
    created = await create(api_client, "podgroups", pod_group(unique("pg"), priority=1000, disruptionMode="PodGroup"))
    assert created["spec"]["disruptionMode"] == "PodGroup"


async def test_a_pod_group_in_137s_spelling_is_accepted_and_read_as_a_whole_group_disruption(
    api_client: client.ApiClient,
) -> None:
    ref = {"workloadRef": {"workloadName": "w", "templateName": "t"}}
    created = await create(api_client, "podgroups", pod_group(unique("pg"), disruptionMode={"all": {}}, **ref))
    assert created["spec"]["disruptionMode"] == {"all": {}}
    assert PodGroup.model_validate(created).spec.disruption_mode is DisruptionMode.POD_GROUP
    spelled = {"podGroupTemplateRef": {"workload": {"workloadName": "w", "podGroupTemplateName": "t"}}}
    older = await create(api_client, "podgroups", pod_group(unique("pg"), disruptionMode={"single": {}}, **spelled))
    assert PodGroup.model_validate(older).spec.template == PodGroup.model_validate(created).spec.template


# The 1.20 server names fields inside lists without the index (spec.podGroupTemplates.name).
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"schedulingPolicy": {"gang": {"minCount": 0}}}, "spec.podGroupTemplates.schedulingPolicy.gang.minCount"),
        ({"name": "Bad_Name"}, "spec.podGroupTemplates.name"),
        ({"schedulingConstraints": {"topology": [{"key": "bad key"}]}}, "schedulingConstraints.topology.key"),
        ({"disruptionMode": "Sometimes"}, "spec.podGroupTemplates.disruptionMode"),
        ({"preemptionPolicy": "Always"}, "spec.podGroupTemplates.preemptionPolicy"),
        ({"priority": 2**31}, "spec.podGroupTemplates.priority"),
        ({"schedulingPolicy": {"basic": {}, "gang": {"minCount": 2}}}, "spec.podGroupTemplates.schedulingPolicy"),
        ({"schedulingPolicy": {}}, "spec.podGroupTemplates.schedulingPolicy"),
    ],
    ids=["min-count", "template-name", "topology-key", "disruption", "preemption", "int32", "both", "neither"],
)
async def test_an_invalid_workload_is_rejected_with_the_field_named(
    api_client: client.ApiClient, template: dict[str, Any], field: str
) -> None:
    message = await rejection(api_client, "workloads", workload(unique("bad"), **template))
    assert field in message


async def test_duplicate_template_names_are_rejected(api_client: client.ApiClient) -> None:
    body = workload(unique("dup"))
    body["spec"]["podGroupTemplates"].append(dict(body["spec"]["podGroupTemplates"][0]))
    message = await rejection(api_client, "workloads", body)
    assert "spec.podGroupTemplates[1]" in message
    assert "Duplicate value" in message


async def test_an_invalid_pod_group_is_rejected_with_the_field_named(api_client: client.ApiClient) -> None:
    message = await rejection(api_client, "podgroups", pod_group(unique("bad"), schedulingPolicy={"gang": {}}))
    assert "spec.schedulingPolicy.gang.minCount" in message


async def test_listing_pod_groups_as_a_table_shows_the_printer_columns(
    api_client: client.ApiClient, apiserver: ApiServer
) -> None:
    name = unique("table")
    await create(api_client, "podgroups", pod_group(name))
    status = {
        "status": {
            "phase": "Running",
            "scheduled": 2,
            "running": 2,
            "placement": {"domain": "rack-7", "level": "network.phalanx.dev/rack"},
            "conditions": [
                {
                    "type": "PodGroupScheduled",
                    "status": "True",
                    "reason": "Scheduled",
                    "message": "placed 2/2 pods",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        }
    }
    objects = client.CustomObjectsApi(api_client)
    await objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        NAMESPACE,
        "podgroups",
        name,
        status,
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )

    url = f"{apiserver.url}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/podgroups/{name}"
    headers = {
        "Authorization": f"Bearer {apiserver.token}",
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io",
    }
    ssl_context = ssl.create_default_context(cafile=str(apiserver.ca_path))
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers, ssl=ssl_context) as response:
        assert response.status == 200
        table = await response.json()
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Phase", "MinCount", "Scheduled", "Running", "Placement", "Reason", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:7] == [name, "Running", 2, 2, 2, "rack-7", "Scheduled"]
