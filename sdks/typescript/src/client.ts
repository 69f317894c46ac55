/** `Codex32`: the client, one object per set of credentials and server. */
import createClient, { type Client } from "openapi-fetch";
import type { paths as V1Paths } from "./generated/v1.js";
import type { paths as V2Paths } from "./generated/v2.js";
import { Auth, Llm } from "./llm.js";
import {
  ApiKeys, AuditLogs, Bots, Executions, Members, Schedules, Usage, Versions,
} from "./resources.js";
import { Transport, type Credentials, type TransportOptions } from "./transport.js";
import { API_VERSION, SDK_VERSION } from "./version.js";

export interface ClientOptions extends TransportOptions {
  /** The server, without a version prefix. Default `http://127.0.0.1:5000`. */
  baseUrl?: string;
}

/**
 * ```ts
 * const client = new Codex32({ apiKey: process.env.CODEX32_API_KEY! }, "https://codex32.example");
 * for await (const bot of client.bots.list()) console.log(bot.name);
 * ```
 */
export class Codex32 {
  readonly bots: Bots;
  readonly versions: Versions;
  readonly executions: Executions;
  readonly schedules: Schedules;
  readonly apiKeys: ApiKeys;
  readonly members: Members;
  readonly auditLogs: AuditLogs;
  readonly usage: Usage;
  readonly llm: Llm;
  readonly auth: Auth;
  /** The generated clients, typed by path, for endpoints without a method here. */
  readonly raw: { v1: Client<V1Paths>; v2: Client<V2Paths> };
  readonly transport: Transport;

  constructor(credentials: Credentials, baseUrlOrOptions: string | ClientOptions = {}) {
    const options = typeof baseUrlOrOptions === "string"
      ? { baseUrl: baseUrlOrOptions } : baseUrlOrOptions;
    const baseUrl = options.baseUrl ?? "http://127.0.0.1:5000";
    this.transport = new Transport(credentials, baseUrl, {
      ...options,
      headers: { "User-Agent": `codex32-sdk-typescript/${SDK_VERSION}`, ...options.headers },
    });
    const fetch = this.transport.fetcher();
    const v2 = createClient<V2Paths>({ baseUrl: this.transport.baseUrl, fetch,
                                       headers: { "Accept-Version": API_VERSION } });
    const v1 = createClient<V1Paths>({ baseUrl: this.transport.baseUrl, fetch });
    this.raw = { v1, v2 };
    this.bots = new Bots(v2, v1, this.transport);
    this.versions = new Versions(v2, v1, this.transport);
    this.executions = new Executions(v2, v1, this.transport);
    this.schedules = new Schedules(v2, v1, this.transport);
    this.apiKeys = new ApiKeys(v2, v1, this.transport);
    this.members = new Members(v2, v1, this.transport);
    this.auditLogs = new AuditLogs(v2, v1, this.transport);
    this.usage = new Usage(v2, v1, this.transport);
    this.llm = new Llm(v1, this.transport);
    this.auth = new Auth(v1, this.transport);
  }
}
