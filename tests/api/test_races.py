"""A row a request refers to, deleted by another request between its read and its write: the
database's foreign key refuses the write, and the request answers 409 naming the race (nothing
applied), never a 500. One handler for every such window (errors.register_error_handlers),
shown here on the narrowest one the builder has."""

from __future__ import annotations

from codex32.services.builder import conversations
from tests.builder.conftest import start


def test_a_bot_deleted_between_the_refine_check_and_the_insert_is_a_409_not_a_500(
        tenant, superuser, monkeypatch):
    bot = tenant.create_bot("refined")
    real = conversations.BuilderConversation

    def deleted_meanwhile(**fields):  # after the check that the bot exists, before the insert
        superuser.execute("DELETE FROM bots WHERE id = %s", (bot["id"],))
        return real(**fields)

    monkeypatch.setattr(conversations, "BuilderConversation", deleted_meanwhile)
    response = tenant.call("POST", "/api/v1/builder/conversations",
                           json={"bot_id": bot["id"], "message": "make it hourly"})
    monkeypatch.undo()
    assert response.status_code == 409, response.json
    assert "deleted" in response.json["message"] and "nothing was applied" in response.json[
        "message"]
    assert tenant.call("GET", "/api/v1/builder/conversations").json["items"] == []
    start(tenant, message="a bot that says hello")  # the workspace carries on


def test_each_database_refusal_a_concurrent_request_causes_has_its_answer():
    import psycopg
    from sqlalchemy.exc import IntegrityError, OperationalError

    from codex32.errors import race

    def wrapped(kind, wrapper=IntegrityError):
        return wrapper("INSERT ...", {}, kind("refused"))

    assert race(wrapped(psycopg.errors.ForeignKeyViolation))[0] == 409
    assert race(wrapped(psycopg.errors.UniqueViolation))[0] == 409
    for kind in (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
        status, message, headers = race(wrapped(kind, OperationalError))
        assert (status, headers) == (503, {"Retry-After": "1"}) and "send it again" in message
        assert race(kind("raised by the driver itself"))[0] == 503
    # Anything else stays an internal error (its handler logs it as one).
    assert race(wrapped(psycopg.errors.CheckViolation)) is None
    assert race(psycopg.errors.UndefinedColumn("a bug")) is None
