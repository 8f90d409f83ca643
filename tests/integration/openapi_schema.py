"""Replies checked against api/openapi.json, strictly: the document's schemas turned into
JSON Schema (nullable as a null alternative, and no property the document does not name),
validated with python3-jsonschema."""

import json
import os

import jsonschema

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _convert(node):
    """One schema object (properties: a map of names to schemas, converted one by one)."""
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("nullable", "example", "format"):  # OpenAPI words JSON Schema lacks or reads otherwise
            continue
        out[k] = {name: _convert(s) for name, s in v.items()} if k == "properties" else _convert(v)
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _document():
    with open(os.path.join(ROOT, "api", "openapi.json")) as f:
        return json.load(f)


def validate(reply, schema_name):
    """Raise jsonschema.ValidationError unless reply matches components.schemas[schema_name]."""
    definitions = {k: _convert(v) for k, v in _document()["components"]["schemas"].items()}
    jsonschema.validate(reply, {"definitions": definitions, "$ref": "#/definitions/" + schema_name},
                        cls=jsonschema.Draft7Validator)


def validate_segment_reply(reply):
    """A 200 reply of POST /v1/segment: the document's oneOf of its two shapes."""
    validate(reply, "FramesSegmentation" if "frames" in reply else "Segmentation")
