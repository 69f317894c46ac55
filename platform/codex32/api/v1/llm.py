"""LLM gateway endpoints: chat in the platform's shape (JSON or Server-Sent Events), the
deployments' cooldown state, the usage report and budgets. Thin: parse, one gateway call,
shape the answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, stream_with_context

from codex32.api import openings, transaction
from codex32.api.blueprint import Blueprint
from codex32.api.v1 import openai_tools
from codex32.api.v1.llm_schemas import (
    BudgetSchema,
    BudgetsInSchema,
    ChatAnswerSchema,
    ChatSchema,
    UsageQuerySchema,
)
from codex32.auth.guard import current_principal, requires
from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.errors import DomainError, error_body
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import ChatRequest, Message, Tool, ToolCall
from codex32.services import gateway
from codex32.services.gateway import budgets, deployments, ledger

blp = Blueprint("llm", __name__, url_prefix="/api/v1",
                description="The LLM gateway: chat, usage, budgets, deployments.")


def caller_of(principal: Principal) -> gateway.Caller:
    """The ledger's caller for an HTTP request."""
    return gateway.Caller(user_id=principal.user_id, api_key_id=principal.api_key_id)


def chat_request(data: dict) -> ChatRequest:
    """The plugin-level request for a parsed chat body, its tools and tool calls checked
    as the OpenAI-compatible endpoint checks them (:mod:`.openai_tools`)."""
    for i, m in enumerate(data["messages"]):
        for name, role in (("tool_calls", "assistant"), ("tool_call_id", "tool")):
            if m.get(name) and m["role"] != role:
                raise openai_tools.invalid(["messages", i, name],
                                           f"only an {role} message has {name}")
    messages = tuple(Message(m["role"], m["content"], tool_calls=tuple(
        ToolCall(c["id"], c["name"], openai_tools.checked_arguments(
            c["arguments"], ["messages", i, "tool_calls", at, "arguments"]))
        for at, c in enumerate(m["tool_calls"])), tool_call_id=m["tool_call_id"])
        for i, m in enumerate(data["messages"]))
    openai_tools.checked_conversation(messages)
    tools = tuple(Tool(t["name"], t["description"], openai_tools.checked_parameters(
        t["parameters"], ["tools", i, "parameters"]), t["strict"])
        for i, t in enumerate(data["tools"]))
    openai_tools.checked_names(tools)
    return ChatRequest(messages=messages,
                       model=data.get("model"), temperature=data["temperature"],
                       max_tokens=data["max_tokens"], json_mode=data.get("json_mode", False),
                       timeout=data.get("timeout", 60.0),
                       response_schema=data.get("response_schema"), tools=tools,
                       tool_choice=openai_tools.checked_choice(data.get("tool_choice"), tools),
                       parallel_tool_calls=data.get("parallel_tool_calls") if tools else None)


@blp.route("/llm/chat", methods=["POST"])
@openings.gated
@requires(Permission.USE_LLM, reads=gateway.first_reads)  # one round trip less a chat
@blp.arguments(ChatSchema)
@blp.response(200, ChatAnswerSchema)
def chat(data):
    """Answer a chat through the workspace's route (aliases, fallback, budget, cache, ledger).

    ``tools`` offers functions the model may call; its calls come back in ``tool_calls``
    (send them back in an assistant message, each result in a ``tool`` message).
    With ``stream: true`` the answer is Server-Sent Events: ``chunk`` events with ``text``
    (and pieces of tool calls in ``tool_calls``: index, id and name first, then fragments of
    the arguments),
    then one ``done`` event with usage, cost and attempts (or an ``error`` event). A client
    that disconnects stops the upstream call; the tokens produced are still recorded.
    """
    principal = current_principal()
    request = chat_request(data)
    if data["stream"]:
        transaction.end()  # the stream works in sessions of its own: hold no connection
        opened = gateway.stream(principal.workspace_id, request,
                                purpose="gateway", caller=caller_of(principal),
                                cache=data["cache"], deadline_seconds=data["timeout"],
                                settling=openings.settling,
                                prepared=openings.leave, read=principal.reads)
        openings.bound_writes()  # a client that stops reading cannot hold the stream
        return sse(opened)
    # The gateway continues the request's transaction (its authentication, which read what
    # the gateway reads first) and ends it before the provider call.
    openings.leave()  # not a stream: the provider's whole answer is awaited, ungated
    result = gateway.chat(principal.workspace_id, request, purpose="gateway",
                          caller=caller_of(principal), cache=data["cache"],
                          deadline_seconds=data["timeout"], session=transaction.session(),
                          defer=transaction.after_sent,
                          read=principal.reads)
    return result.as_dict(), 200, result.headers


def sse(opened: gateway.GatewayStream) -> Response:
    """The stream as Server-Sent Events."""
    def events() -> Iterator[str]:
        try:
            for chunk in opened:
                if chunk.tool_calls:
                    yield _event("chunk", {"text": chunk.text, "tool_calls": [
                        {"index": d.index, "id": d.id, "name": d.name,
                         "arguments": d.arguments} for d in chunk.tool_calls]})
                elif chunk.text:
                    yield _event("chunk", {"text": chunk.text})
        except (PluginError, DomainError) as exc:
            # The error the same failure answers before the first piece (a timeout is a 504).
            error = gateway.stream_error(opened, exc)
            yield _event("error", error_body(error.status, str(error), error.errors))
            return
        finally:
            # A client that went away closes this generator: close upstream, record usage
            # (inside stream_with_context, so the app context is still there).
            opened.close()
        result = opened.result
        yield _event("done", result.as_dict() if result else {})
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **opened.headers,
               "X-LLM-Provider": opened.provider, "X-LLM-Model": _header_value(opened.model)}
    response = Response(stream_with_context(events()), mimetype="text/event-stream",
                        headers=headers)
    # A response closed before its body was read (the client left first) never starts
    # events(): close the stream here too, so it is recorded and its reservation settled.
    response.call_on_close(opened.close)
    return response


def _header_value(text: str) -> str:
    """``text`` as a header carries it: as is when printable ASCII, else percent-encoded
    UTF-8. The upstream names the model: a line break must not inject a header, nor a
    character beyond Latin-1 break the answer (the ``done`` event has the name as sent)."""
    return text if text.isascii() and text.isprintable() else quote(text, safe="")


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


@blp.route("/llm/deployments", methods=["GET"])
@requires(Permission.VIEW_PROVIDERS)
@blp.response(200)
def list_deployments():
    """Every (provider, model) the workspace's routes use, and its cooldown state."""
    return {"deployments": deployments.describe(db.session, current_principal().workspace_id)}


@blp.route("/usage", methods=["GET"])
@requires(Permission.VIEW_ANALYTICS)
@blp.arguments(UsageQuerySchema, location="query")
@blp.response(200)
def usage(query):
    """The workspace's LLM usage and cost between ``from`` and ``to``, grouped by any of
    day, model, provider, purpose, user, bot, api_key (comma-separated ``group_by``).

    Each group counts ``requests``, tokens, ``cost_usd`` (known costs, exact decimal),
    ``cache_hits``, ``unpriced_requests`` (cost unknown), ``failed_requests`` (error,
    timeout, cancelled), ``pending_requests`` (still being answered or recorded) and
    ``unsettled_requests`` (answer never recorded, charged at the reserved maximum; not
    failed)."""
    group_by = [name.strip() for name in query["group_by"].split(",") if name.strip()]
    return ledger.report(db.session, query["start"], query["end"], group_by)


@blp.route("/budgets", methods=["GET"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.response(200, BudgetSchema(many=True))
def list_budgets():
    """The workspace's budgets with the current period's spend and reservations."""
    return budgets.list_budgets(db.session)


@blp.route("/budgets", methods=["PUT"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.arguments(BudgetsInSchema)
@blp.response(200, BudgetSchema(many=True))
def put_budgets(data):
    """Replace the workspace's budgets (audited). A budget kept keeps its period's spend."""
    return budgets.replace(db.session, current_principal(), data["budgets"])
