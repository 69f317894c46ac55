"""Bot templates: what the code generators offer, and generating a bot's files from one.

A generator may call a language model, so generation is a prepared call: :func:`prepare`
chooses the generator in the caller's transaction, and the caller ends that transaction before
it runs the :class:`Generation` (docs/architecture.md, "Transactions").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.errors import NotFound, from_plugin_error
from codex32.plugins.calls import invoke
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import CodeGenerator, GeneratedBot, GenerationRequest
from codex32.services import provider_instances


def _generators(session: Session, principal: Principal) -> list[CodeGenerator]:
    ids = sorted(runtime.current().plugins.classes(CodeGenerator.kind))
    known = provider_instances.snapshot(session, principal.workspace_id, CodeGenerator.kind)
    return [provider_instances.build(session, principal.workspace_id, CodeGenerator, plugin_id,
                                     known=known) for plugin_id in ids]


def list_templates(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Every template of every installed generator."""
    found = []
    for generator in _generators(session, principal):
        for template in generator.templates():
            found.append({"id": template.id, "generator": generator.id,
                          "title": template.title, "description": template.description,
                          "parameters": template.parameters,
                          "requires": dict(template.requires)})
    return found


@dataclass(frozen=True)
class Generation:
    """A generation ready to run: the chosen generator and its request (no database objects)."""

    generator: CodeGenerator
    request: GenerationRequest
    timeout: float

    def run(self) -> GeneratedBot:
        """The new bot's files; call it with no transaction open (it may take seconds)."""
        try:
            return invoke(self.generator, "generate", self.generator.generate, self.request,
                          timeout=self.timeout)
        except PluginError as exc:
            raise from_plugin_error(exc, self.generator.id) from exc


def prepare(session: Session, principal: Principal, *, template: str,
            generator: str | None, parameters: dict[str, Any], name: str,
            description: str) -> Generation:
    """Choose the generator offering ``template`` (404 when none does)."""
    chosen = None
    for candidate in _generators(session, principal):
        if generator not in (None, candidate.id):
            continue
        if any(t.id == template for t in candidate.templates()):
            chosen = candidate
            break
    if chosen is None:
        raise NotFound(f"no template '{template}'" + (f" in generator '{generator}'"
                                                       if generator else ""))
    return Generation(chosen, GenerationRequest(name=name, description=description,
                                                template=template, parameters=parameters),
                      timeout=provider_instances.health_timeout() * 6)
