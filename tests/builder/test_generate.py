"""Asking the model for a bot's files (generate.from_model) through the gateway and the real
openai SDK: the answer's checks, the one re-ask, and the ledger rows. No validation runs here:
tests/builder/test_pipeline.py covers the loop around it."""

from __future__ import annotations

import pytest

from codex32.services import gateway
from codex32.services.builder import generate, prompts
from tests.builder.greeter import GOOD_BOT, GOOD_FILES, SPEC, answer


def ask_files(app, tenant, caller: gateway.Caller | None = None) -> dict[str, str]:
    """The files the workspace's model answers for SPEC, as the pipeline asks for them."""
    with app.app_context():
        return generate.from_model(tenant.workspace_id, prompts.generation_messages(SPEC, None),
                                   caller=caller or gateway.Caller(conversation_id="conv-1"))


@pytest.mark.parametrize("malformed", [
    "Here are your files: bot.py ...",
    answer({"bot.py": GOOD_BOT}),  # three files missing
    answer({**GOOD_FILES, "requirements.txt": "requests\n"}),  # not pinned
    answer({**GOOD_FILES, "setup.py": "x"}),
    answer({**GOOD_FILES, "bot.py": "  "}),
    answer({**GOOD_FILES, "bot.py": "# a comment line\n" * 12_000}),  # too long
    # What the database cannot store: a build holding one failed when stored, stuck running.
    answer({**GOOD_FILES, "bot.py": GOOD_BOT + "\n# \u0000\n"}),
    answer({**GOOD_FILES, "README.md": "lone \ud800 surrogate"}),
    answer({**GOOD_FILES, "bot.py": GOOD_BOT}).replace("{", '{"n": NaN, ', 1),
])
def test_a_malformed_answer_is_asked_again_once_with_its_problems(app, tenant, scripted_llm,
                                                                   malformed):
    scripted_llm.says(malformed, "```json\n" + answer(GOOD_FILES) + "\n```")

    assert ask_files(app, tenant) == GOOD_FILES
    assert len(scripted_llm.asked) == 2
    reasked = scripted_llm.asked[1]["messages"]
    assert reasked[-2] == {"role": "assistant", "content": malformed[:20_000]}
    assert reasked[-1]["content"].startswith("Your answer could not be used")


def test_an_answer_wrapped_in_prose_is_taken_without_asking_again(app, tenant, scripted_llm):
    scripted_llm.says("Here you are:\n" + answer(GOOD_FILES) + "\nGood luck!")

    assert ask_files(app, tenant) == GOOD_FILES and len(scripted_llm.asked) == 1


def test_an_answer_cut_off_at_the_token_limit_is_asked_again_saying_so(app, tenant,
                                                                        scripted_llm):
    long_readme = "# long\n" + "A line of a long README.\n" * 3000  # past 16,000 tokens
    scripted_llm.says(answer({**GOOD_FILES, "README.md": long_readme}), answer(GOOD_FILES))

    assert ask_files(app, tenant) == GOOD_FILES
    assert "cut off at the token limit" in scripted_llm.asked[1]["messages"][-1]["content"]


def test_a_config_yaml_from_the_model_is_dropped(app, tenant, scripted_llm):
    scripted_llm.says(answer({**GOOD_FILES, "config.yaml": "name: mine\nschedule: never\n"}))

    assert ask_files(app, tenant) == GOOD_FILES and len(scripted_llm.asked) == 1


def test_every_call_is_a_builder_usage_row_with_the_callers_conversation(app, tenant,
                                                                         scripted_llm,
                                                                         superuser):
    scripted_llm.says("not json", answer(GOOD_FILES))

    ask_files(app, tenant, gateway.Caller(conversation_id="conv-42"))

    rows = superuser.execute(
        "SELECT purpose, conversation_id, provider, status FROM llm_usage "
        "WHERE workspace_id = %s", (tenant.workspace_id,)).fetchall()
    assert rows == [("builder", "conv-42", "openai", "ok")] * 2
    # Structured output: the files' JSON Schema goes to the provider (OpenAI's json_schema).
    asked = scripted_llm.asked[0]["response_format"]
    assert asked["type"] == "json_schema" and asked["json_schema"]["name"] == "bot_files"


def test_a_repair_may_answer_only_the_files_it_changes():
    files, problems, refusal = generate.check_answer(answer({"bot.py": GOOD_BOT}), partial=True)
    assert files == {"bot.py": GOOD_BOT} and problems == [] and refusal is None
    assert generate.check_answer(answer({}), partial=True)[1] == ["it changes no file"]
