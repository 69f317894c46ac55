/** The LLM gateway (v1 only) and sign-in: `llm.chat`, `llm.chatStream`, `auth.*`. */
import type { Client } from "openapi-fetch";
import { errorFrom } from "./errors.js";
import type { paths as V1Paths } from "./generated/v1.js";
import type * as M from "./models.js";
import { ok } from "./resources.js";
import { readEvents } from "./sse.js";
import { asTimeout, type CallOptions, type TokenPair, type Transport } from "./transport.js";

/** The final `done` event of a stream: usage, cost and the attempts made. */
export type ChatDone = Partial<Omit<M.ChatAnswer, "text">> & Record<string, unknown>;

/**
 * A streamed chat: iterate it for the text chunks as they arrive; `done` holds the final
 * event's usage and cost once the iteration ended. Breaking out of the loop closes the stream
 * (the server stops the upstream call and records what was produced).
 */
export class ChatStream implements AsyncIterable<string> {
  done: ChatDone | undefined;

  constructor(private readonly open: () => Promise<ReadableStream<Uint8Array>>,
              private readonly describe: string) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    try {
      for await (const event of readEvents(await this.open())) {
        const data = eventData(event.data);
        if (event.event === "chunk" && typeof data["text"] === "string") yield data["text"];
        else if (event.event === "done") this.done = data;
        else if (event.event === "error") {
          throw errorFrom(typeof data["code"] === "number" ? data["code"] : 502, data);
        }
      }
    } catch (error) {
      throw asTimeout(error, undefined, this.describe) ?? error;
    }
  }

  /** The whole answer's text (reads the stream to its end). */
  async text(): Promise<string> {
    let text = "";
    for await (const chunk of this) text += chunk;
    return text;
  }
}

/** An event's data: a JSON object, or a 502 error (not an event this API sends). */
function eventData(text: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw errorFrom(502, { message: `unreadable event in the stream: ${text.slice(0, 100)}` });
  }
  return data as Record<string, unknown>;
}

export class Llm {
  constructor(private readonly v1: Client<V1Paths>, private readonly transport: Transport) {}

  /** One answer through the workspace's route (aliases, fallback, budget, cache, ledger). */
  chat(body: Omit<M.Chat, "stream">, options?: CallOptions): Promise<M.ChatAnswer> {
    return ok(this.v1.POST("/api/v1/llm/chat", {
      body: { ...body, stream: false }, fetch: this.transport.fetcher(options) }));
  }

  /** The answer as text chunks: `for await (const text of client.llm.chatStream({...}))`. */
  chatStream(body: Omit<M.Chat, "stream">, options?: CallOptions): ChatStream {
    return new ChatStream(async () => {
      const { data, error, response } = await this.v1.POST("/api/v1/llm/chat", {
        body: { ...body, stream: true }, parseAs: "stream",
        headers: { Accept: "text/event-stream" }, fetch: this.transport.fetcher(options) });
      if (!response.ok || !data) throw errorFrom(response.status, error, response.headers);
      return data as ReadableStream<Uint8Array>;
    }, "/api/v1/llm/chat");
  }
}

export class Auth {
  constructor(private readonly v1: Client<V1Paths>, private readonly transport: Transport) {}

  /** Sign in by password; the client then uses (and refreshes) the pair. */
  signIn(email: string, password: string, workspace?: string,
         options?: CallOptions): Promise<TokenPair> {
    return this.transport.signIn(email, password, workspace, options);
  }

  /** Exchange the refresh token for a new pair now (the client also does it on a 401). */
  refresh(options?: CallOptions): Promise<TokenPair> {
    return this.transport.refresh(options);
  }

  /** Who the credentials are: the account or key, its workspace and role. */
  me(options?: CallOptions): Promise<M.Me> {
    return ok(this.v1.GET("/api/v1/auth/me", { fetch: this.transport.fetcher(options) }));
  }
}
