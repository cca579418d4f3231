"""CustomResourceDefinitions generated from the pydantic models, so the schema and the code cannot drift.

pydantic emits JSON Schema; the API server wants a *structural* OpenAPI v3 schema. `structural_schema` rewrites
one into the other:

1. `$ref` into `$defs` is inlined (structural schemas have no references), sibling keys winning.
2. `anyOf: [X, {type: null}]` becomes X with `nullable: true`; any other `anyOf`/`oneOf` carrying types is
   refused, because the server would reject it with a far less helpful message.
3. `const` becomes a one-value `enum`.
4. `additionalProperties` beside `properties` is dropped (the server forbids both; pruning does the job).
5. Keys the server refuses or ignores are dropped: `title`, `$defs`, `examples`, `uniqueItems`, `default: null`.
6. `metadata` becomes an opaque object; the server validates it.

Integer bounds are kept explicitly: the 1.20 server does not range-check `format: int32`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

_DROPPED_KEYS = frozenset({"title", "$defs", "examples", "uniqueItems", "discriminator"})
# Inside oneOf/anyOf/allOf/not a structural schema may only constrain, never declare types or metadata.
_JUNCTORS = ("oneOf", "anyOf", "allOf")
_TYPE_DECLARING = frozenset({"type", "description", "default", "nullable", "properties", "items"})


class SchemaError(ValueError):
    """A model whose JSON schema has no structural equivalent."""


def structural_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a pydantic JSON schema into a structural OpenAPI v3 schema (rules in the module docstring)."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    result = _rewrite(schema, definitions, path="")
    props = result.get("properties", {})
    if "metadata" in props:
        props["metadata"] = {"type": "object"}
    for key in ("apiVersion", "kind"):
        if key in props:
            props[key] = {"type": "string"}
    result.pop("required", None) if not result.get("required") else None
    if "required" in result:
        result["required"] = [r for r in result["required"] if r not in ("apiVersion", "kind", "metadata")]
        if not result["required"]:
            del result["required"]
    return result


def _resolve(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    name = ref.removeprefix("#/$defs/")
    if name not in definitions:
        raise SchemaError(f"{path or '<root>'}: unresolvable reference {ref}")
    merged = copy.deepcopy(definitions[name])
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return _resolve(merged, definitions, path)


def _rewrite(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, definitions, path)
    for junctor in ("anyOf", "oneOf"):
        options = node.get(junctor)
        if options and any(isinstance(o, dict) and o.get("type") == "null" for o in options):
            others = [o for o in options if o.get("type") != "null"]
            if len(others) != 1:
                raise SchemaError(f"{path or '<root>'}: a union of several types is not structural")
            rest = {k: v for k, v in node.items() if k != junctor}
            base = _resolve(others[0], definitions, path)
            node = {**base, **rest, "nullable": True}

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _rewrite(sub, definitions, f"{path}.{name}") for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _rewrite(value, definitions, f"{path}[]")
        elif key in _JUNCTORS:
            out[key] = [_check_junctor_branch(branch, path) for branch in value]
        else:
            out[key] = copy.deepcopy(value)
    if "enum" in out and "type" not in out:
        out["type"] = _json_type(out["enum"][0], path)
    if "properties" in out and "additionalProperties" in out:
        del out["additionalProperties"]
    if out.get("type") == "object" and "properties" not in out and out.get("additionalProperties") is False:
        del out["additionalProperties"]
        out["properties"] = {}
    return out


def _check_junctor_branch(branch: dict[str, Any], path: str) -> dict[str, Any]:
    declared = _TYPE_DECLARING & branch.keys()
    if declared:
        raise SchemaError(f"{path or '<root>'}: oneOf/anyOf branches may not declare {sorted(declared)}")
    return copy.deepcopy(branch)


def _json_type(value: object, path: str) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    raise SchemaError(f"{path or '<root>'}: cannot infer a type for enum value {value!r}")


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def to_wire(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class CrdSpec:
    model: type[BaseModel]
    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    extra_labels: dict[str, str] = field(default_factory=dict)


def custom_resource_definition(spec: CrdSpec) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 object for one model, status subresource included."""
    schema = structural_schema(spec.model.model_json_schema(by_alias=True, mode="validation"))
    version: dict[str, Any] = {
        "name": spec.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
    }
    if spec.printer_columns:
        version["additionalPrinterColumns"] = [c.to_wire() for c in spec.printer_columns]
    names: dict[str, Any] = {
        "kind": spec.kind,
        "listKind": f"{spec.kind}List",
        "plural": spec.plural,
        "singular": spec.kind.lower(),
    }
    if spec.short_names:
        names["shortNames"] = list(spec.short_names)
    if spec.categories:
        names["categories"] = list(spec.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{spec.plural}.{spec.group}",
            "labels": {"app.kubernetes.io/part-of": "phalanx", **spec.extra_labels},
        },
        "spec": {"group": spec.group, "names": names, "scope": "Namespaced", "versions": [version]},
    }
