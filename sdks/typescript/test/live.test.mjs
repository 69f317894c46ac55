// The SDK against a live Codex-32 server (run by tests/sdks/test_typescript_sdk.py, which
// starts the server, signs up a workspace and passes it in CODEX32_* variables).
// node --test test/live.test.mjs   (after `npx tsc -p tsconfig.json`, which builds dist/)
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

const { Codex32, Codex32Error, Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Timeout,
        TransportError } =
  await import(process.env.CODEX32_SDK_ENTRY ?? "../dist/index.js");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the pytest module sets it)`);
  return value;
};
const BASE = process.env.CODEX32_BASE_URL ?? "";
const live = BASE ? describe : describe.skip;
const CODE = "def main(event, context):\n    return {'echo': event}\n";
const suffix = () => Math.random().toString(36).slice(2, 10);

live("against the live server", () => {
  const admin = () => new Codex32({ apiKey: env("CODEX32_ADMIN_API_KEY") }, BASE);
  const machine = () => new Codex32({ apiKey: env("CODEX32_API_KEY") }, BASE);
  let bot;

  before(async () => {
    bot = await admin().bots.create({ name: `sdk-ts-${suffix()}`, code: CODE });
  });

  test("api key authenticates", async () => {
    const me = await machine().auth.me();
    assert.equal(me.workspace?.id ?? me.workspace_id, env("CODEX32_WORKSPACE_ID"));
  });

  test("password sign-in then bearer token", async () => {
    const client = new Codex32({ email: env("CODEX32_EMAIL"), password: env("CODEX32_PASSWORD"),
                                 workspace: env("CODEX32_WORKSPACE") }, BASE);
    const found = await client.bots.get(bot.id);
    assert.equal(found.name, bot.name);
    assert.ok(client.transport.tokens.accessToken);
  });

  test("expired access token is refreshed once", async () => {
    const seen = [];
    const client = new Codex32({ accessToken: env("CODEX32_EXPIRED_ACCESS_TOKEN"),
                                 refreshToken: env("CODEX32_REFRESH_TOKEN") },
                               { baseUrl: BASE, onTokens: (pair) => seen.push(pair) });
    const found = await client.bots.get(bot.id);
    assert.equal(found.id, bot.id);
    assert.equal(seen.length, 1);
    assert.notEqual(client.transport.tokens.accessToken, env("CODEX32_EXPIRED_ACCESS_TOKEN"));
  });

  test("bots versions schedules crud", async () => {
    const client = admin();
    const made = await client.bots.create({ name: `crud-${suffix()}`, code: CODE });
    assert.equal((await client.bots.get(made.id)).id, made.id);
    const renamed = await client.bots.update(made.id, { description: "renamed by the SDK" });
    assert.equal(renamed.description, "renamed by the SDK");
    const version = await client.versions.create(made.id, { code: CODE.replace("echo", "again") });
    assert.equal(version.number, 2);
    const numbers = (await client.versions.list(made.id, { limit: 1 }).toArray()).map((v) => v.number);
    assert.deepEqual(numbers.sort(), [1, 2]);
    assert.equal((await client.versions.get(made.id, 1)).number, 1);
    const schedule = await client.schedules.put(made.id, { cron: "*/15 * * * *", input: { a: 1 } });
    assert.equal(schedule.cron, "*/15 * * * *");
    assert.equal((await client.schedules.get(made.id)).cron, "*/15 * * * *");
    await client.schedules.delete(made.id);
    await assert.rejects(client.schedules.get(made.id), NotFound);
    await client.bots.delete(made.id);
    await assert.rejects(client.bots.get(made.id), NotFound);
  });

  test("list paginates across pages", async () => {
    const client = admin();
    const tag = `page-${suffix()}`;
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await client.bots.create({ name: `${tag}-${i}` })).id);
    const pages = [];
    for await (const page of client.bots.list({ q: tag, limit: 2 }).pages()) pages.push(page.data.length);
    assert.deepEqual(pages, [2, 2, 1]);
    const ids = [];
    for await (const found of client.bots.list({ q: tag, limit: 2 })) ids.push(found.id);
    assert.deepEqual(ids.sort(), made.sort());
  });

  test("same idempotency key gives one execution", async () => {
    const client = machine();
    const key = `sdk-ts-${suffix()}`;
    const first = await client.executions.create(bot.id, { n: 1 }, { idempotencyKey: key });
    const second = await client.executions.create(bot.id, { n: 2 }, { idempotencyKey: key });
    assert.equal(second.id, first.id);
    const other = await client.executions.create(bot.id, { n: 3 });
    assert.notEqual(other.id, first.id);
    assert.equal((await client.executions.get(first.id)).id, first.id);
    const listed = await client.executions.list({ bot_id: bot.id, limit: 1 }).toArray();
    assert.deepEqual(listed.map((e) => e.id).sort(), [first.id, other.id].sort());
    const cancelled = await client.executions.cancel(other.id).catch((error) => error);
    if (cancelled instanceof Error) assert.ok(cancelled instanceof Conflict, String(cancelled));
    else assert.equal(cancelled.status, "cancelled");   // queued: cancelled at once
    await assert.rejects(client.executions.cancel(other.id), Conflict);   // it has ended
  });

  test("typed errors 404 422 403 on v2 and v1", async () => {
    const client = admin();
    const missing = await client.bots.get("00000000-0000-4000-8000-000000000000").catch((e) => e);
    assert.ok(missing instanceof NotFound);
    assert.equal(missing.status, 404);
    assert.equal(missing.type, "urn:codex32:problem:not-found");
    const invalid = await client.bots.create({ name: "" }).catch((e) => e);
    assert.ok(invalid instanceof InvalidInput);
    assert.ok(invalid.errors.some((error) => error.pointer === "/name"), JSON.stringify(invalid.errors));
    const forbidden = await machine().bots.create({ name: `no-${suffix()}` }).catch((e) => e);
    assert.ok(forbidden instanceof Forbidden);
    const v1 = await machine().llm.chat({ messages: [] }).catch((e) => e);   // v1's error shape
    assert.ok(v1 instanceof InvalidInput, String(v1));
    assert.ok(v1.errors.some((error) => error.location === "json" && error.pointer === "/messages"),
              JSON.stringify(v1.errors));
  });

  test("another workspace's bot is not found", async () => {
    const other = env("CODEX32_OTHER_BOT_ID");
    await assert.rejects(admin().bots.get(other), NotFound);
    await assert.rejects(admin().bots.update(other, { description: "taken" }), NotFound);
    await assert.rejects(machine().executions.create(other, {}), NotFound);
  });

  test("chat stream yields text chunks", async () => {
    const stream = machine().llm.chatStream({ messages: [{ role: "user", content: "Say hello" }] });
    const chunks = [];
    for await (const text of stream) chunks.push(text);
    assert.ok(chunks.length >= 1);
    assert.ok(chunks.join("").length > 0);
    assert.ok(stream.done, "the done event was read");
  });

  test("members api keys audit logs usage", async () => {
    const client = admin();
    const members = await client.members.list();
    assert.ok(members.some((member) => member.email === env("CODEX32_EMAIL")));
    const minted = await client.apiKeys.create({ name: `sdk-${suffix()}`, role: "viewer" });
    assert.ok(minted.key);
    assert.equal((await client.apiKeys.get(minted.id)).id, minted.id);
    assert.ok((await client.apiKeys.list()).some((key) => key.id === minted.id));
    await client.apiKeys.delete(minted.id);
    let entries = 0;
    for await (const entry of client.auditLogs.list({ limit: 3 })) {
      assert.ok(entry.action);
      if (++entries >= 5) break;
    }
    assert.equal(entries, 5);
    const usage = await client.usage.get();
    assert.ok(usage);
  });
});

describe("against a fake server", () => {
  let server;
  let base;
  const seen = [];
  let script = [];

  before(async () => {
    server = createServer((request, response) => {
      seen.push({ at: Date.now(), method: request.method, url: request.url,
                  key: request.headers["idempotency-key"], auth: request.headers["x-api-key"] });
      const [status, headers, body] = script.shift() ?? [200, {}, "{}"];
      if (status === "hang") return;   // never answers: the client's timeout must end the call
      response.writeHead(status, { "Content-Type": "application/json", ...headers });
      if (!Array.isArray(body)) return response.end(body);
      const pieces = [...body];   // written apart, so events arrive split across reads
      const next = () => (pieces.length ? response.write(pieces.shift(), () => setTimeout(next, 20))
                                        : response.end());
      next();
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => server.closeAllConnections() ?? server.close());

  test("503 then 429 retried after Retry-After with the same idempotency key", async () => {
    seen.length = 0;
    const execution = { id: "e1", bot_id: "b1", status: "queued" };
    script = [[503, { "Retry-After": "1" }, "{}"], [429, { "Retry-After": "0" }, "{}"],
              [202, {}, JSON.stringify(execution)]];
    const client = new Codex32({ apiKey: "k" }, base);
    const made = await client.executions.create("b1", { x: 1 });
    assert.equal(made.id, "e1");
    assert.equal(seen.length, 3);
    assert.ok(seen[1].at - seen[0].at >= 950, `waited ${seen[1].at - seen[0].at} ms`);
    assert.ok(seen[0].key && seen.every((request) => request.key === seen[0].key));
    assert.ok(seen.every((request) => request.auth === "k"));
  });

  test("retry-after beyond the deadline is a RateLimited error", async () => {
    seen.length = 0;
    script = [[429, { "Retry-After": "120" }, JSON.stringify({
      type: "urn:codex32:problem:rate-limited", title: "Too Many Requests", status: 429,
      detail: "slow down", instance: "/api/v2/bots" })]];
    const client = new Codex32({ apiKey: "k" }, { baseUrl: base, retryDeadlineMs: 5_000 });
    const error = await client.bots.get("b1").catch((e) => e);
    assert.ok(error instanceof RateLimited);
    assert.equal(error.retryAfter, 120);
    assert.equal(error.detail, "slow down");
    assert.equal(seen.length, 1);
  });

  test("chat stream parses split events then an error event", async () => {
    const sse = { "Content-Type": "text/event-stream" };
    script = [[200, sse, ["event: chunk\r\ndata: {\"te", "xt\": \"Hel\"}\r\n\r\nevent: chunk\n",
                          "data: {\"text\": \"lo\"}\n\n: a comment\n\n",
                          "event: done\ndata: {\"model\": \"m\"}\n\n"]],
              [200, sse, ["event: chunk\ndata: {\"text\": \"x\"}\n\n",
                          "event: error\ndata: {\"code\": 502, \"status\": \"Bad Gateway\", " +
                          "\"message\": \"provider down\"}\n\n"]]];
    const client = new Codex32({ apiKey: "k" }, base);
    const stream = client.llm.chatStream({ messages: [{ role: "user", content: "hi" }] });
    const chunks = [];
    for await (const text of stream) chunks.push(text);
    assert.deepEqual(chunks, ["Hel", "lo"]);
    assert.equal(stream.done?.model, "m");
    const failing = client.llm.chatStream({ messages: [{ role: "user", content: "hi" }] });
    const error = await failing.text().catch((e) => e);
    assert.ok(error instanceof Codex32Error && error.status === 502, String(error));
    assert.equal(error.detail, "provider down");
  });

  test("credentials are not shown when the client or its errors are printed", async () => {
    const { inspect } = await import("node:util");
    const secrets = ["c32_secret-api-key", "secret-access", "secret-refresh", "secret-password"];
    const refused = [401, {}, JSON.stringify({ code: 401, status: "Unauthorized",
                                               message: "the API key is invalid" })];
    script = [refused, refused];
    const clients = [
      new Codex32({ apiKey: secrets[0] }, base),
      new Codex32({ accessToken: secrets[1] }, base),   // no refresh token: the 401 answers
      new Codex32({ email: "ada@example.com", password: secrets[3] }, base),
      new Codex32({ accessToken: secrets[1], refreshToken: secrets[2] }, base),
    ];
    const shown = [];
    for (const client of clients.slice(0, 2)) {
      const error = await client.bots.get("b1").catch((e) => e);
      shown.push(inspect(error, { depth: 8 }), String(error), JSON.stringify(error));
    }
    for (const client of clients) {
      shown.push(inspect(client, { depth: 8, showHidden: true }), JSON.stringify(client.transport));
    }
    for (const secret of secrets) {
      assert.ok(!shown.some((text) => text.includes(secret)), `${secret} was shown`);
    }
    assert.equal(clients[3].transport.tokens.refreshToken, secrets[2]);   // still readable
  });

  test("an unreachable server is a TransportError, retried while refused", async () => {
    const closed = createServer();
    await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${closed.address().port}`;
    await new Promise((resolve) => closed.close(resolve));
    const client = new Codex32({ apiKey: "c32_secret-api-key" }, { baseUrl: url, maxRetries: 1 });
    const started = Date.now();
    const error = await client.bots.get("b1").catch((e) => e);
    assert.ok(error instanceof TransportError, String(error));
    assert.ok(error.message.includes(url) && !error.message.includes("secret"), error.message);
    assert.ok(Date.now() - started < 3_000);
    assert.ok(new Timeout("t") instanceof TransportError);   // one catch for both
  });

  test("an unreadable stream event is a Codex32Error", async () => {
    const sse = { "Content-Type": "text/event-stream" };
    script = [[200, sse, ["event: chunk\ndata: {\"text\": \"Hel\"}\n\n", "event: chunk\ndata: {no\n\n"]],
              [200, sse, ["event: done\ndata: null\n\n"]]];
    const client = new Codex32({ apiKey: "k" }, base);
    for (let i = 0; i < 2; i++) {
      const error = await client.llm.chatStream({ messages: [{ role: "user", content: "hi" }] })
        .text().catch((e) => e);
      assert.ok(error instanceof Codex32Error && error.status === 502, String(error));
      assert.ok(error.detail.includes("unreadable event"), error.detail);
    }
  });

  test("a cursor the server repeats ends the list with a Codex32Error", async () => {
    // A server (or a cache on the way) answering a page again made the walk loop forever.
    const page = (id, next) => [200, {}, JSON.stringify({ data: [{ id }], next_cursor: next })];
    script = [page("1", "a"), page("2", "b"), page("3", "a"), page("4", "b"), page("5", "a")];
    seen.length = 0;
    const client = new Codex32({ apiKey: "k" }, base);
    const ids = [];
    const error = await (async () => {
      for await (const bot of client.bots.list()) ids.push(bot.id);
    })().catch((e) => e);
    assert.ok(error instanceof Codex32Error && error.status === 502, String(error));
    assert.ok(error.detail.includes("repeated a cursor"), error.detail);
    assert.deepEqual(ids, ["1", "2", "3"]);
    assert.equal(seen.length, 3);
    script = [];
  });

  // The retry policy, the same in the three SDKs: GET, HEAD, PUT, DELETE and any request with
  // an Idempotency-Key are retried on 429, 502, 503, 504 and connection errors; a POST or PATCH
  // without a key never is.
  const now = { "Retry-After": "0" };
  const bot = { id: "b1", name: "n", status: "draft" };

  test("idempotent calls are retried on 429 502 503 504", async () => {
    // 502 and 504 (a proxy's) were answered at once: only 429 and 503 were retried.
    seen.length = 0;
    script = [[502, now, "{}"], [504, now, "{}"], [429, now, "{}"], [200, {}, JSON.stringify(bot)]];
    const client = new Codex32({ apiKey: "k" }, base);
    assert.equal((await client.bots.get("b1")).id, "b1");
    assert.deepEqual(seen.map((request) => request.method), ["GET", "GET", "GET", "GET"]);
    seen.length = 0;
    script = [[503, now, "{}"], [204, {}, ""]];
    await client.schedules.delete("b1");
    assert.deepEqual(seen.map((request) => request.method), ["DELETE", "DELETE"]);
  });

  test("a post or patch without an idempotency key is never retried", async () => {
    // A POST that creates (a bot, a chat) was sent again on 503 and 429: two bots, two charges.
    const client = new Codex32({ apiKey: "k" }, base);
    const calls = [() => client.bots.create({ name: "b" }),
                   () => client.bots.update("b1", { name: "c" }),
                   () => client.llm.chat({ messages: [{ role: "user", content: "hi" }] })];
    for (const status of [503, 429, 502]) {
      for (const call of calls) {
        seen.length = 0;
        script = [[status, now, "{}"], [201, {}, JSON.stringify(bot)]];
        const error = await call().catch((e) => e);
        assert.ok(error instanceof Codex32Error && error.status === status, String(error));
        assert.equal(seen.length, 1, `${seen[0]?.method} ${seen[0]?.url} after ${status}`);
      }
    }
    script = [];
  });

  test("a post with an idempotency key is retried with the same key", async () => {
    seen.length = 0;
    script = [[502, now, "{}"], [504, now, "{}"],
              [202, {}, JSON.stringify({ id: "e1", bot_id: "b1", status: "queued" })]];
    const made = await new Codex32({ apiKey: "k" }, base).executions.create("b1", {});
    assert.equal(made.id, "e1");
    assert.equal(seen.length, 3);
    assert.ok(seen[0].key && seen.every((request) => request.key === seen[0].key));
  });

  test("connection errors are retried only for idempotent calls", async () => {
    // A refused connection was retried for any POST, a reset one for none.
    for (const code of ["ECONNREFUSED", "ECONNRESET"]) {
      const methods = [];
      const fetch = async (_url, init) => {
        methods.push(init.method);
        throw new TypeError("fetch failed", { cause: { code, message: code } });
      };
      const client = new Codex32({ apiKey: "k" }, { baseUrl: base, fetch, retryBackoffMs: 1 });
      await assert.rejects(client.bots.get("b1"), TransportError);
      assert.deepEqual(methods.splice(0), ["GET", "GET", "GET", "GET"], code);
      await assert.rejects(client.bots.create({ name: "b" }), TransportError);
      assert.deepEqual(methods.splice(0), ["POST"], code);
      await assert.rejects(client.executions.create("b1", {}), TransportError);
      assert.deepEqual(methods.splice(0), ["POST", "POST", "POST", "POST"], code);
    }
  });

  test("an unknown enum value is kept as its raw string", async () => {
    // A newer server's execution status must reach an old client as the string it is.
    const future = { id: "e1", bot_id: "b1", status: "paused_for_review", trigger: "webhook" };
    script = [[200, {}, JSON.stringify(future)],
              [200, {}, JSON.stringify({ data: [future], next_cursor: null })]];
    const client = new Codex32({ apiKey: "k" }, base);
    const execution = await client.executions.get("e1");
    assert.equal(execution.status, "paused_for_review");
    assert.equal(execution.trigger, "webhook");
    const listed = await client.executions.list({ status: "paused_for_review" }).toArray();
    assert.equal(listed[0].status, "paused_for_review");
  });

  test("a call past its timeout is a Timeout", async () => {
    script = [["hang"]];
    const client = new Codex32({ apiKey: "k" }, { baseUrl: base, timeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(client.bots.get("b1"), Timeout);
    assert.ok(Date.now() - started < 3_000);
  });
});
