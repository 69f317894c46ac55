"""Regenerate the Python SDK's low-level clients from the OpenAPI snapshots (``make sdk-python``).

Offline: reads ``sdks/openapi/v1.json`` and ``v2.json``, never a running server. Writes
``codex32_client/api_v2`` (all of v2), ``codex32_client/api_v1`` (only the v1 tags the SDK calls:
sign-in and the LLM gateway) and ``codex32_client/generated.json``, the snapshots' digests, which
``tests/sdks/test_python_sdk.py`` compares with the snapshots so a snapshot the SDK was not
regenerated for fails. The hand-written layer (the rest of ``codex32_client``) is not touched.

Enums come from the templates in ``templates/`` (the generator's, plus ``_missing_``): a value
a newer server added (a new execution status) is kept as a member named ``UNKNOWN`` carrying the
raw value, where the generator's own enums raise ``ValueError`` and the answer is unreadable.

Two adjustments to a copy of each document, before openapi-python-client sees it:
- v1 keeps the tags in ``V1_TAGS`` and the schemas they reach (the rest is v2's or not SDK's).
- An inline object property whose generated class name (parent + property) is a component's
  name gets a title, so both classes exist (``Schedule.input`` vs the ``ScheduleInput`` body).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE.parent / "openapi"
PACKAGE = HERE / "codex32_client"
GENERATOR = "openapi-python-client"
# Templates replacing the generator's own (the rest are its defaults): enums that keep a value
# this SDK does not know, as a member named UNKNOWN carrying it, instead of raising ValueError.
TEMPLATES = HERE / "templates"
V1_TAGS = {"auth", "llm"}


def digest(path: Path) -> str:
    """The sha256 of a snapshot file (what ``generated.json`` records)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def keep_tags(document: dict[str, Any], tags: set[str]) -> dict[str, Any]:
    """The document with only the operations tagged ``tags`` and the components they reach."""
    document = copy.deepcopy(document)
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        kept = {method: op for method, op in item.items()
                if not isinstance(op, dict) or "operationId" not in op
                or set(op.get("tags", [])) & tags}
        if any(isinstance(op, dict) and "operationId" in op for op in kept.values()):
            paths[path] = kept
    document["paths"] = paths
    document["tags"] = [tag for tag in document.get("tags", []) if tag.get("name") in tags]
    components = document.get("components", {})
    reached, frontier = set(), _refs(paths)
    while frontier:
        name = frontier.pop()
        if name in reached:
            continue
        reached.add(name)
        for section in ("schemas", "responses", "parameters"):
            if name in components.get(section, {}):
                frontier |= _refs(components[section][name]) - reached
    for section in ("schemas", "responses", "parameters"):
        if section in components:
            components[section] = {k: v for k, v in components[section].items() if k in reached}
    return document


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def title_clashing_inline_objects(document: dict[str, Any]) -> dict[str, Any]:
    """Title each inline object property whose class name would be a component's name."""
    schemas = document.get("components", {}).get("schemas", {})
    for parent, schema in schemas.items():
        for prop, sub in schema.get("properties", {}).items():
            inline_object = "$ref" not in sub and sub.get("type") == "object"
            if inline_object and "title" not in sub and _pascal(parent) + _pascal(prop) in schemas:
                sub["title"] = f"{prop}_object"
    return document


def generate(document: dict[str, Any], target: Path, work: Path) -> None:
    """Run openapi-python-client on ``document`` and put the package at ``target``."""
    source = work / f"{target.name}.json"
    source.write_text(json.dumps(document, indent=2))
    output = work / target.name
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run([os.path.join(bin_dir, GENERATOR), "generate", "--path", str(source),
                    "--meta", "none", "--output-path", str(output), "--fail-on-warning",
                    "--custom-template-path", str(TEMPLATES)],
                   check=True, cwd=work, env=env)
    shutil.rmtree(output / ".ruff_cache", ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(output, target)


def main() -> None:
    v1, v2 = SNAPSHOTS / "v1.json", SNAPSHOTS / "v2.json"
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        generate(title_clashing_inline_objects(json.loads(v2.read_text())),
                 PACKAGE / "api_v2", work)
        generate(title_clashing_inline_objects(keep_tags(json.loads(v1.read_text()), V1_TAGS)),
                 PACKAGE / "api_v1", work)
    recorded = {"generator": GENERATOR, "v1.json": digest(v1), "v2.json": digest(v2)}
    (PACKAGE / "generated.json").write_text(json.dumps(recorded, indent=2) + "\n")


if __name__ == "__main__":
    main()
