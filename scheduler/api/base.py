"""Shared pydantic base: camelCase on the wire, snake_case in Python, strict about unknown fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every API type: refuses unknown fields so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, no unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class LenientModel(ApiModel):
    """Base of the slices of core Kubernetes objects we read: unknown fields are the server's business, and
    they are kept (`model_extra`), never dropped: a field we do not model may still matter for placement."""

    model_config = ConfigDict(extra="allow")
