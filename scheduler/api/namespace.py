"""The slice of core/v1 Namespaces that placement reads: their labels (pod affinity's namespaceSelector)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from scheduler.api.base import LenientModel
from scheduler.api.meta import ObjectMeta


class Namespace(LenientModel):
    KIND: ClassVar[str] = "Namespace"

    api_version: Literal["v1"] = "v1"
    kind: Literal["Namespace"] = "Namespace"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
