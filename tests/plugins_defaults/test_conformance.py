"""The core's defaults pass the conformance suite of their kind, like any third-party plugin.

They are offline: nothing to make fail or slow, no secrets to leak, so those checks skip.
"""

from __future__ import annotations

import json

import pytest

from codex32.plugins.defaults.builtin_llm import BuiltinLLM
from codex32.plugins.defaults.hashing_embedder import HashingEmbedder
from codex32.plugins.defaults.log_notifier import LogNotifier
from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from codex32.plugins.defaults.template_generator import TemplateGenerator
from codex32.plugins.interfaces import GenerationRequest
from codex32.testing import (
    CodeGeneratorConformance,
    EmbedderConformance,
    ExecutorConformance,
    LLMProviderConformance,
    NotifierConformance,
)

ENTRY_POINT = "builtin"


class TestBuiltinLLM(LLMProviderConformance):
    plugin_class = BuiltinLLM
    entry_point = ENTRY_POINT


class TestHashingEmbedder(EmbedderConformance):
    plugin_class = HashingEmbedder
    entry_point = ENTRY_POINT
    plugin_config = {"dimension": 64}


class TestTemplateGenerator(CodeGeneratorConformance):
    plugin_class = TemplateGenerator
    entry_point = ENTRY_POINT

    def generation_requests(self) -> list[GenerationRequest]:
        """Every template, with the parameters it requires."""
        required = {
            "http_health_check": {"url": "https://example.com/health"},
            "feed_digest": {"feed_url": "https://example.com/feed.xml"},
            "csv_report": {"group_by": "region"},
            "webhook_relay": {"target_url": "https://example.com/hook"},
            "scheduled_cleanup": {},
        }
        return [GenerationRequest(name=f"Conformance {template}", template=template,
                                  parameters=parameters)
                for template, parameters in required.items()]

    def test_every_template_is_generated(self):
        offered = {template.id for template in self.build().templates()}

        assert offered == {request.template for request in self.generation_requests()}


class TestLogNotifier(NotifierConformance):
    plugin_class = LogNotifier
    entry_point = ENTRY_POINT

    @pytest.fixture(autouse=True)
    def log_records(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level("INFO", logger="codex32.notify")
        self.caplog = caplog

    def delivered(self, notification) -> bool:
        return any(json.loads(record.args[0]).get("notification_id") == notification.id
                   for record in self.caplog.records if record.name == "codex32.notify")


class TestSubprocessExecutor(ExecutorConformance):
    plugin_class = SubprocessExecutor
    entry_point = ENTRY_POINT
    serves_platform_services = True

    def invalid_configs(self) -> list[dict]:
        return [*super().invalid_configs(), {"python": "/no/such/python3"}]
