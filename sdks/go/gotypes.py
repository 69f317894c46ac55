"""Go types for OpenAPI schemas, for generate.py: the constructs the Codex-32 documents use,
and an error (``Unsupported``) for any other, never a guess."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Go names where a schema name would clash with the SDK's own identifiers.
RENAMES = {("v1", "Error"): "V1Error"}
INITIALISMS = {"id": "ID", "api": "API", "url": "URL", "ip": "IP", "llm": "LLM", "usd": "USD",
               "json": "JSON", "uuid": "UUID", "ms": "MS", "mb": "MB", "http": "HTTP"}
SCHEMA_KEYS = {"type", "format", "nullable", "description", "default", "example", "enum",
               "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
               "pattern", "writeOnly", "readOnly", "items", "additionalProperties",
               "properties", "required", "anyOf", "allOf", "$ref"}


class Unsupported(Exception):
    """A construct this generator does not translate."""


def go_name(name: str) -> str:
    """snake_case or CamelCase -> exported Go identifier with Go's initialisms."""
    words = [w for w in re.split(r"[_\-\s]+|(?<=[a-z0-9])(?=[A-Z])", name) if w]
    return "".join(INITIALISMS.get(w.lower(), w[:1].upper() + w[1:]) for w in words)


def lower_first(name: str) -> str:
    """A Go identifier for a parameter (unexported)."""
    ident = go_name(name)
    for upper in sorted(INITIALISMS.values(), key=len, reverse=True):
        if ident.startswith(upper):
            return upper.lower() + ident[len(upper):]
    return ident[:1].lower() + ident[1:]


class Document:
    """One OpenAPI document and the Go types its schemas become."""

    def __init__(self, version: str, path: Path) -> None:
        self.version = version
        self.spec = json.loads(path.read_text())
        self.schemas: dict[str, Any] = self.spec.get("components", {}).get("schemas", {})

    def type_name(self, name: str) -> str:
        return RENAMES.get((self.version, name)) or go_name(name)

    def ref_name(self, ref: str) -> str:
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix) or ref[len(prefix):] not in self.schemas:
            raise Unsupported(f"{self.version}: unresolvable $ref {ref}")
        return ref[len(prefix):]

class Models:
    """The schemas the operations reach, as Go structs with JSON tags."""

    def __init__(self) -> None:
        self.wanted: dict[str, tuple[Document, str]] = {}  # Go type name -> (doc, schema)

    def use(self, doc: Document, name: str) -> str:
        """The Go type of a named schema, queued for models_gen.go."""
        go = doc.type_name(name)
        known = self.wanted.get(go)
        if known and known[0].schemas[known[1]] != doc.schemas[name]:
            raise Unsupported(f"schema {name} differs between {known[0].version} and "
                              f"{doc.version}; add a rename")
        if not known:
            self.wanted[go] = (doc, name)
            self.check_object(doc, name, doc.schemas[name])
            for prop in doc.schemas[name].get("properties", {}).values():
                self.go_type(doc, prop, f"{name}")
        return go

    def check_object(self, doc: Document, where: str, schema: dict[str, Any]) -> None:
        if schema.get("type") != "object" or "properties" not in schema:
            raise Unsupported(f"{doc.version} {where}: a named schema must be an object with "
                              "properties")
        if schema.get("additionalProperties", False) not in (False, {}):
            raise Unsupported(f"{doc.version} {where}: properties with additionalProperties")

    def go_type(self, doc: Document, schema: dict[str, Any], where: str) -> str:
        """The Go type of a property schema (its value form; pointers are the caller's)."""
        unknown = set(schema) - SCHEMA_KEYS
        if unknown:
            raise Unsupported(f"{doc.version} {where}: unknown keywords {sorted(unknown)}")
        if "$ref" in schema:
            return self.use(doc, doc.ref_name(schema["$ref"]))
        if "allOf" in schema:
            parts = schema["allOf"]
            if len(parts) != 1 or set(parts[0]) != {"$ref"}:
                raise Unsupported(f"{doc.version} {where}: allOf other than one $ref")
            return self.use(doc, doc.ref_name(parts[0]["$ref"]))
        if "anyOf" in schema:
            # The one form marshmallow emits for a nullable nested object: [$ref, null object].
            parts = schema["anyOf"]
            if (len(parts) != 2 or set(parts[0]) != {"$ref"}
                    or parts[1] != {"nullable": True, "type": "object"}):
                raise Unsupported(f"{doc.version} {where}: anyOf other than [$ref, null]")
            return self.use(doc, doc.ref_name(parts[0]["$ref"]))
        kind = schema.get("type")
        if kind is None:
            if set(schema) - {"nullable", "description", "default", "example"}:
                raise Unsupported(f"{doc.version} {where}: a schema without a type")
            return "any"
        if kind == "string":
            if schema.get("format") == "date-time":
                return "time.Time"
            return "string"
        if kind == "integer":
            return "int64"
        if kind == "number":
            return "float64"
        if kind == "boolean":
            return "bool"
        if kind == "array":
            if "items" not in schema:
                raise Unsupported(f"{doc.version} {where}: an array without items")
            return "[]" + self.go_type(doc, schema["items"], f"{where}[]")
        if kind == "object":
            if "properties" in schema:
                raise Unsupported(f"{doc.version} {where}: an inline object with properties")
            extra = schema.get("additionalProperties", {})
            if extra in ({}, True):
                return "map[string]any"
            return "map[string]" + self.go_type(doc, extra, f"{where}{{}}")
        raise Unsupported(f"{doc.version} {where}: type {kind!r}")

    def field_type(self, doc: Document, schema: dict[str, Any], required: bool,
                   where: str) -> tuple[str, bool]:
        """(Go type, omitempty): optional or nullable scalars and structs are pointers, so
        absent, null and the zero value stay distinct; slices, maps and any are nil-able."""
        base = self.go_type(doc, schema, where)
        nullable = schema.get("nullable", False) or "anyOf" in schema
        if base.startswith(("[]", "map[")) or base == "any":
            return base, not required
        if required and not nullable:
            return base, False
        return "*" + base, not required

    def render(self) -> str:
        out = []
        for go in sorted(self.wanted):
            doc, name = self.wanted[go]
            schema = doc.schemas[name]
            required = set(schema.get("required", []))
            out.append(comment(schema.get("description") or
                               f"{go} is the {name} schema of API {doc.version}.", ""))
            out.append(f"type {go} struct {{\n")
            for prop, sub in sorted(schema["properties"].items()):
                kind, omit = self.field_type(doc, sub, prop in required, f"{name}.{prop}")
                tag = prop + (",omitempty" if omit else "")
                note = sub.get("description", "")
                if "enum" in sub:
                    note = (note + "; " if note else "") + "one of " + ", ".join(
                        map(str, sub["enum"]))
                if note:
                    out.append(comment(note, "\t"))
                out.append(f"\t{go_name(prop)} {kind} `json:\"{tag}\"`\n")
            out.append("}\n\n")
        return "".join(out)

    # -- operations ----------------------------------------------------------------------


def comment(text: str, indent: str) -> str:
    """A Go line comment (newlines and backquoted code flattened)."""
    flat = " ".join(text.replace("``", "`").split())
    return f"{indent}// {flat}\n"
