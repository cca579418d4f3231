"""The engine's effects over the API server, and the one place where API errors are classified.

Transient: throttling (429), server errors (5xx), dropped or stalled connections, and conflicts (409: "the
object has been modified; please apply your changes again"): the same call may pass later. A binding's 409 is
read back first (kube/api.py): bound where planned is success, still unbound is transient, bound elsewhere or
another pod under the name (the Binding carries the UID the plan was made for) is permanent. Permanent:
everything else the server refuses (403, 404, 422, webhooks). A 404 on an eviction or a release is success:
the pod is gone, which is what was asked.
"""

from __future__ import annotations

from typing import Any

import structlog
from kubernetes_asyncio import client

from scheduler.engine.effects import (
    Bind,
    Done,
    Effect,
    Evict,
    Nominate,
    Outcome,
    PostEvent,
    Release,
    SelectNode,
    SetPodCondition,
    WriteStatus,
)
from scheduler.kube.api import CONNECTION_ERRORS, RETRIABLE, KubeApi, RetryableConflictError

log = structlog.get_logger(__name__)


def classify(error: BaseException) -> Outcome:
    if isinstance(error, client.ApiException):
        return Outcome.TRANSIENT if error.status in RETRIABLE or error.status == 409 else Outcome.PERMANENT
    if isinstance(error, (*CONNECTION_ERRORS, RetryableConflictError)):
        return Outcome.TRANSIENT
    return Outcome.PERMANENT  # BindingRefusedError, and anything we did not expect


async def carry_out(kube: KubeApi, effect: Effect) -> Done:
    """Run one effect; never raises (the answer says how it went)."""
    try:
        await _run(kube, effect)
    except Exception as exc:
        if isinstance(effect, Evict | Release) and isinstance(exc, client.ApiException) and exc.status == 404:
            return Done(effect)
        outcome = classify(exc)
        error = _describe(exc)
        if not isinstance(effect, PostEvent):
            log.warning("api call failed", effect=type(effect).__name__, outcome=outcome.value, error=error[:300])
        return Done(effect, outcome, error)
    return Done(effect)


async def _run(kube: KubeApi, effect: Effect) -> None:
    match effect:
        case Bind(pod=pod, uid=uid, node=node):
            await kube.bind(pod, node, uid)
        case SelectNode(claim=claim, node=node):
            errors = await kube.select_nodes([(claim, node)])
            if errors[0] is not None:
                raise errors[0]
        case Evict(pod=pod, message=message):
            await kube.evict(pod, "PreemptionByScheduler", message)
        case Release(pod=pod):
            await kube.delete_pod(pod)
        case Nominate(pod=pod, node=node):
            await kube.nominate(pod, node or None)
        case SetPodCondition(pod=pod, condition=condition):
            await kube.set_pod_condition(pod, condition)
        case WriteStatus(group=group, status=status, api_version=api_version, conditions=conditions) if api_version:
            await kube.write_foreign_status(group, api_version, status, conditions)
        case WriteStatus(group=group, status=status):
            await kube.patch_pod_group_status(group, status)
        case PostEvent(ref=ref, type=type_, reason=reason, message=message):
            await kube.post_event(ref, type_, reason, message)
        case _:
            raise TypeError(f"not an effect the kube adapter carries out: {effect!r}")


def _describe(error: BaseException) -> str:
    if isinstance(error, client.ApiException):
        body: Any = error.body
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
        return f"({error.status}) {error.reason or ''} {text[:200]}".strip()
    return f"{type(error).__name__}: {error}"
