from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from scheduler.api.crd import SchemaError, structural_schema
from scheduler.api.crds import generated_crds


class Color(StrEnum):
    RED = "Red"
    BLUE = "Blue"


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=0, le=10)


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Outer")
    inner: Inner
    maybe: Inner | None = None
    color: Color = Color.RED
    fixed: Literal["only"] = "only"
    labels: dict[str, str] = Field(default_factory=dict)
    items: list[Inner] = Field(default_factory=list)


def walk(node: Any) -> list[dict[str, Any]]:
    """Every schema object in a tree, so a rule can be checked everywhere at once."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(walk(value))
    return found


@pytest.fixture
def schema() -> dict[str, Any]:
    return structural_schema(Outer.model_json_schema())


def test_references_are_inlined_and_definitions_dropped(schema: dict[str, Any]) -> None:
    assert all("$ref" not in node and "$defs" not in node for node in walk(schema))
    assert schema["properties"]["inner"]["properties"]["size"] == {"maximum": 10, "minimum": 0, "type": "integer"}


def test_optional_fields_become_nullable_instead_of_any_of_null(schema: dict[str, Any]) -> None:
    maybe = schema["properties"]["maybe"]
    assert "anyOf" not in maybe
    assert maybe["nullable"] is True
    assert maybe["type"] == "object"
    assert "default" not in maybe


def test_const_becomes_a_one_value_enum_with_its_type(schema: dict[str, Any]) -> None:
    assert schema["properties"]["fixed"] == {"default": "only", "enum": ["only"], "type": "string"}
    assert all("const" not in node for node in walk(schema))


def test_enums_keep_their_values_and_defaults(schema: dict[str, Any]) -> None:
    color = schema["properties"]["color"]
    assert color["enum"] == ["Red", "Blue"]
    assert color["default"] == "Red"


def test_additional_properties_never_stand_beside_properties(schema: dict[str, Any]) -> None:
    assert all(not ("properties" in node and "additionalProperties" in node) for node in walk(schema))
    assert schema["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_titles_are_dropped_everywhere(schema: dict[str, Any]) -> None:
    assert all("title" not in node for node in walk(schema))


def test_lists_keep_an_item_schema(schema: dict[str, Any]) -> None:
    assert schema["properties"]["items"]["items"]["properties"]["size"]["type"] == "integer"


def test_unions_of_several_types_are_refused() -> None:
    class Bad(BaseModel):
        value: int | str

    with pytest.raises(SchemaError, match="not structural"):
        structural_schema({"properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}}})
    # Without null pydantic emits anyOf of types, which a structural schema may not declare either.
    with pytest.raises(SchemaError, match="may not declare"):
        structural_schema(Bad.model_json_schema())


def test_one_of_branches_may_only_require_fields() -> None:
    ok = structural_schema({"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]})
    assert ok["oneOf"] == [{"required": ["a"]}, {"required": ["b"]}]


def test_generated_crds_have_status_printer_columns_and_our_category() -> None:
    crds = generated_crds()
    podgroups = crds["scheduling.phalanx.dev_podgroups.yaml"]
    version = podgroups["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Phase", "MinCount", "Scheduled", "Running", "Placement", "Reason", "Age"]
    names = podgroups["spec"]["names"]
    assert "pg" not in names["shortNames"]
    assert names["categories"] == ["phalanx"]
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["required"] == ["spec"]
    for crd in crds.values():
        assert all("$ref" not in node and "const" not in node for node in walk(crd))


def test_int32_fields_carry_explicit_bounds_because_the_server_does_not_check_the_format() -> None:
    podgroups = generated_crds()["scheduling.phalanx.dev_podgroups.yaml"]
    spec = podgroups["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["priority"]["maximum"] == 2**31 - 1
    assert spec["properties"]["priority"]["minimum"] == -(2**31)
