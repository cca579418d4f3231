"""Watch events, from kopf's event loop to the scheduling thread.

kopf handlers only record what changed; the scheduling thread owns the cache and applies the changes at the
start of each pass. One writer, so the cache needs no lock and a pass sees a consistent snapshot.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

# "done" carries an effect's answer back to the engine (kube/effects.py).
# "owner" and "served" come from the workload-controller integration (kube/integrations.py), "provisioning"
# from the ProvisioningRequest watch (kube/provisioning.py). "pvc", "pv" and "storageclass" feed volume-aware
# placement (engine/storage.py); "namespace" the namespaces' labels (pod affinity's namespaceSelector).
Kind = Literal[
    "pod",
    "node",
    "podgroup",
    "priorityclass",
    "pdb",
    "done",
    "owner",
    "served",
    "provisioning",
    "pvc",
    "pv",
    "storageclass",
    "namespace",
]


@dataclass(frozen=True)
class Change:
    kind: Kind
    deleted: bool
    body: dict[str, Any]


class Inbox:
    def __init__(self) -> None:
        self._changes: deque[Change] = deque()
        self.wake = threading.Event()

    def put(self, change: Change) -> None:
        self._changes.append(change)  # deque appends are atomic: safe from the event loop thread
        self.wake.set()

    def drain(self) -> list[Change]:
        out = []
        while self._changes:
            out.append(self._changes.popleft())
        return out
