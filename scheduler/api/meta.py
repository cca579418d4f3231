"""The parts of metav1 that Phalanx reads and writes: object metadata, owner references and conditions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from scheduler.api.base import ApiModel, LenientModel
from scheduler.api.validation import INT32_MAX, label_key_error, label_value_error

CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
CONDITION_MESSAGE_MAX = 32768


class OwnerReference(LenientModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(LenientModel):
    """Metadata as we read it; the server owns its schema, so the CRD keeps `metadata` opaque.

    Unlike the spec slices it drops what it does not model: nothing else in metadata affects placement, and
    managedFields alone would double the cache's memory."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _labels_are_valid(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if err := label_key_error(key):
                raise ValueError(f"label key {key!r}: {err}")
            if err := label_value_error(value):
                raise ValueError(f"label {key!r} value {value!r}: {err}")
        return labels


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """metav1.Condition: the shape every Kubernetes tool already knows how to show."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    status: ConditionStatus
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    last_transition_time: datetime
    reason: Annotated[str, Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)]
    message: Annotated[str, Field(max_length=CONDITION_MESSAGE_MAX)] = ""


Int32 = Annotated[int, Field(ge=-(INT32_MAX + 1), le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
