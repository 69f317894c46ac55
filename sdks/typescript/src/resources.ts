/**
 * The API's resources as methods: thin, typed wrappers of the generated paths that turn an
 * error answer into a typed error and a v2 list into a `Paginator`.
 */
import type { Client } from "openapi-fetch";
import { errorFrom } from "./errors.js";
import type { paths as V1Paths } from "./generated/v1.js";
import type { paths as V2Paths, operations as V2Ops } from "./generated/v2.js";
import type * as M from "./models.js";
import { Paginator } from "./pagination.js";
import type { CallOptions, Transport } from "./transport.js";

type Query<Op extends keyof V2Ops> = NonNullable<V2Ops[Op]["parameters"]["query"]>;
type ListQuery<Op extends keyof V2Ops> = Omit<Query<Op>, "cursor">;

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer; a typed `Codex32Error` otherwise. */
export async function ok<T>(pending: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) throw errorFrom(response.status, error, response.headers);
  return data as T;
}

abstract class Resource {
  constructor(protected readonly v2: Client<V2Paths>, protected readonly v1: Client<V1Paths>,
              protected readonly transport: Transport) {}

  protected call(options?: CallOptions): { fetch: (request: Request) => Promise<Response> } {
    return { fetch: this.transport.fetcher(options) };
  }
}

export class Bots extends Resource {
  /** Every bot (newest first), fetched page by page: `for await (const bot of bots.list())`. */
  list(query: ListQuery<"listBots"> = {}, options?: CallOptions): Paginator<M.Bot> {
    return new Paginator((cursor) => ok(this.v2.GET("/api/v2/bots", {
      params: { query: { ...query, cursor } }, ...this.call(options) })));
  }

  create(body: M.BotCreate, options?: CallOptions): Promise<M.BotDetail> {
    return ok(this.v2.POST("/api/v2/bots", { body, ...this.call(options) }));
  }

  get(botId: string, query: Query<"getBot"> = {}, options?: CallOptions): Promise<M.BotDetail> {
    return ok(this.v2.GET("/api/v2/bots/{bot_id}", {
      params: { path: { bot_id: botId }, query }, ...this.call(options) }));
  }

  update(botId: string, body: M.BotUpdate, options?: CallOptions): Promise<M.BotDetail> {
    return ok(this.v2.PATCH("/api/v2/bots/{bot_id}", {
      params: { path: { bot_id: botId } }, body, ...this.call(options) }));
  }

  async delete(botId: string, options?: CallOptions): Promise<void> {
    await ok(this.v2.DELETE("/api/v2/bots/{bot_id}", {
      params: { path: { bot_id: botId } }, ...this.call(options) }));
  }
}

export class Versions extends Resource {
  list(botId: string, query: ListQuery<"listVersions"> = {},
       options?: CallOptions): Paginator<M.VersionSummary> {
    return new Paginator((cursor) => ok(this.v2.GET("/api/v2/bots/{bot_id}/versions", {
      params: { path: { bot_id: botId }, query: { ...query, cursor } }, ...this.call(options) })));
  }

  create(botId: string, body: M.VersionCreate, options?: CallOptions): Promise<M.Version> {
    return ok(this.v2.POST("/api/v2/bots/{bot_id}/versions", {
      params: { path: { bot_id: botId } }, body, ...this.call(options) }));
  }

  get(botId: string, number: number, options?: CallOptions): Promise<M.Version> {
    return ok(this.v2.GET("/api/v2/bots/{bot_id}/versions/{number}", {
      params: { path: { bot_id: botId, number } }, ...this.call(options) }));
  }

  /** Make an earlier version the bot's current one again. */
  rollback(botId: string, version: number, options?: CallOptions): Promise<M.Version> {
    return ok(this.v2.POST("/api/v2/bots/{bot_id}/rollback", {
      params: { path: { bot_id: botId } }, body: { version }, ...this.call(options) }));
  }
}

export interface CreateExecutionOptions extends CallOptions {
  /** Repeats with the same key return the first execution. Default: a new random key per call,
   *  reused by that call's retries. */
  idempotencyKey?: string;
  /** The version to run (default: the bot's current one). */
  version?: number;
}

export class Executions extends Resource {
  /** Queue a run of the bot with `input` (the event it gets). */
  create(botId: string, input: Record<string, unknown> = {},
         options: CreateExecutionOptions = {}): Promise<M.Execution> {
    const { idempotencyKey = crypto.randomUUID(), version, ...call } = options;
    return ok(this.v2.POST("/api/v2/bots/{bot_id}/executions", {
      params: { path: { bot_id: botId }, header: { "Idempotency-Key": idempotencyKey } },
      body: { input, ...(version === undefined ? {} : { version }) }, ...this.call(call) }));
  }

  get(executionId: string, query: Query<"getExecution"> = {},
      options?: CallOptions): Promise<M.Execution> {
    return ok(this.v2.GET("/api/v2/executions/{execution_id}", {
      params: { path: { execution_id: executionId }, query }, ...this.call(options) }));
  }

  /** The workspace's executions (filter by `bot_id`, `status`, `trigger`), page by page. */
  list(query: ListQuery<"listExecutions"> = {},
       options?: CallOptions): Paginator<M.ExecutionSummary | M.Execution> {
    return new Paginator((cursor) => ok(this.v2.GET("/api/v2/executions", {
      params: { query: { ...query, cursor } }, ...this.call(options) })));
  }

  cancel(executionId: string, options?: CallOptions): Promise<M.Execution> {
    return ok(this.v2.POST("/api/v2/executions/{execution_id}/cancel", {
      params: { path: { execution_id: executionId } }, ...this.call(options) }));
  }
}

export class ApiKeys extends Resource {
  async list(options?: CallOptions): Promise<M.ApiKey[]> {
    return (await ok(this.v2.GET("/api/v2/api-keys", this.call(options)))).data;
  }

  /** Mint a key; its secret (`key`) is in this answer only. */
  create(body: M.ApiKeyCreate, options?: CallOptions): Promise<M.MintedKey> {
    return ok(this.v2.POST("/api/v2/api-keys", { body, ...this.call(options) }));
  }

  get(keyId: string, options?: CallOptions): Promise<M.ApiKey> {
    return ok(this.v2.GET("/api/v2/api-keys/{key_id}", {
      params: { path: { key_id: keyId } }, ...this.call(options) }));
  }

  async delete(keyId: string, options?: CallOptions): Promise<void> {
    await ok(this.v2.DELETE("/api/v2/api-keys/{key_id}", {
      params: { path: { key_id: keyId } }, ...this.call(options) }));
  }
}

export class Members extends Resource {
  async list(options?: CallOptions): Promise<M.Member[]> {
    return (await ok(this.v2.GET("/api/v2/members", this.call(options)))).data;
  }

  changeRole(userId: string, role: M.Role, options?: CallOptions): Promise<M.Member> {
    return ok(this.v2.PATCH("/api/v2/members/{user_id}", {
      params: { path: { user_id: userId } }, body: { role }, ...this.call(options) }));
  }

  async remove(userId: string, options?: CallOptions): Promise<void> {
    await ok(this.v2.DELETE("/api/v2/members/{user_id}", {
      params: { path: { user_id: userId } }, ...this.call(options) }));
  }
}

export class AuditLogs extends Resource {
  list(query: ListQuery<"listAuditLogs"> = {}, options?: CallOptions): Paginator<M.AuditEntry> {
    return new Paginator((cursor) => ok(this.v2.GET("/api/v2/audit-logs", {
      params: { query: { ...query, cursor } }, ...this.call(options) })));
  }
}

export class Usage extends Resource {
  get(query: Query<"getUsage"> = {}, options?: CallOptions): Promise<M.UsageReport> {
    return ok(this.v2.GET("/api/v2/usage", { params: { query }, ...this.call(options) }));
  }
}

export class Schedules extends Resource {
  get(botId: string, options?: CallOptions): Promise<M.Schedule> {
    return ok(this.v2.GET("/api/v2/bots/{bot_id}/schedule", {
      params: { path: { bot_id: botId } }, ...this.call(options) }));
  }

  /** Set (or replace) the bot's schedule. */
  put(botId: string, body: M.ScheduleInput, options?: CallOptions): Promise<M.Schedule> {
    return ok(this.v2.PUT("/api/v2/bots/{bot_id}/schedule", {
      params: { path: { bot_id: botId } }, body, ...this.call(options) }));
  }

  async delete(botId: string, options?: CallOptions): Promise<void> {
    await ok(this.v2.DELETE("/api/v2/bots/{bot_id}/schedule", {
      params: { path: { bot_id: botId } }, ...this.call(options) }));
  }
}
