/**
 * The one place requests go out: authentication (an API key, or bearer tokens refreshed once
 * on a 401), retries, a failure without an answer as `TransportError`, and timeouts through
 * `AbortSignal`. The generated client (openapi-fetch) hands every request to
 * `Transport.fetcher`.
 *
 * The retry policy, the same in the three SDKs (sdks/README.md): GET, HEAD, PUT and DELETE, and
 * any request carrying an `Idempotency-Key` (the SDK sends one with `executions.create`, the
 * one POST the server deduplicates by it), are retried on 429, 502, 503 and 504 and on
 * connection errors (refused, reset, closed before an answer), never after a timeout; a POST or
 * PATCH without a key is never sent twice. The wait is `Retry-After` when the answer has one,
 * else full-jitter exponential backoff; at most `maxRetries` more attempts, and no wait that
 * would end past `retryDeadlineMs` from the call's start.
 */
import { Timeout, TransportError, errorFrom, retryAfterSeconds } from "./errors.js";

/** How the client authenticates: an API key, a token pair, or a password it signs in with. */
export type Credentials =
  | { apiKey: string }
  | { accessToken: string; refreshToken?: string }
  | { email: string; password: string; workspace?: string };

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
}

export interface TransportOptions {
  /** Time for one attempt (headers and body), in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Retries of one call (see the retry policy above). Default 3; 0 turns retries off. */
  maxRetries?: number;
  /** No retry starts later than this many milliseconds after the call began. Default 30 000. */
  retryDeadlineMs?: number;
  /** The backoff without `Retry-After`: a random wait up to this × 2^retry ms (≤ 8 s).
   *  Default 500. */
  retryBackoffMs?: number;
  /** Headers sent with every request (a `User-Agent`, a tracing header). */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Called with each pair after a sign-in or refresh, e.g. to store it. */
  onTokens?: (pair: TokenPair) => void;
}

/** Options of one call. */
export interface CallOptions {
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
  /** Aborts the call (and its retries) when it fires. */
  signal?: AbortSignal;
}

const RETRIED = new Set([429, 502, 503, 504]);
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE"]);
/** fetch's (undici's) causes for a connection that failed or dropped before an answer. */
const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "UND_ERR_SOCKET",
                                   "UND_ERR_CLOSED"]);

/** Whether a request may be sent again: sending it twice cannot do its work twice. */
export function retriable(method: string | undefined, headers: RequestInit["headers"]): boolean {
  return IDEMPOTENT.has((method ?? "GET").toUpperCase()) ||
    new Headers(headers).has("Idempotency-Key");
}

const AUTH_PATHS = ["/api/v1/auth/token", "/api/v1/auth/refresh"];

export class Transport {
  readonly baseUrl: string;
  // Private fields (#): never shown by console.log or util.inspect, nor in JSON.stringify.
  readonly #credentials: Credentials;
  private readonly options: Required<Omit<TransportOptions, "onTokens">> &
    Pick<TransportOptions, "onTokens">;
  #accessToken: string | undefined;
  #refreshToken: string | undefined;
  private renewing: Promise<void> | undefined;

  constructor(credentials: Credentials, baseUrl: string, options: TransportOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.#credentials = credentials;
    this.options = {
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 3,
      retryDeadlineMs: options.retryDeadlineMs ?? 30_000,
      retryBackoffMs: options.retryBackoffMs ?? 500,
      headers: options.headers ?? {},
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      onTokens: options.onTokens,
    };
    if ("accessToken" in credentials) {
      this.#accessToken = credentials.accessToken;
      this.#refreshToken = credentials.refreshToken;
    }
  }

  /** The tokens in use (after a password sign-in or a refresh), if the client uses tokens. */
  get tokens(): { accessToken?: string; refreshToken?: string } {
    return { accessToken: this.#accessToken, refreshToken: this.#refreshToken };
  }

  /** A fetch for openapi-fetch that authenticates, retries and times out one call. */
  fetcher(call: CallOptions = {}): (request: Request) => Promise<Response> {
    return (request) => this.authenticated(request, call);
  }

  /** Sign in by password (POST /api/v1/auth/token); the client then uses the pair. */
  async signIn(email: string, password: string, workspace?: string,
               call: CallOptions = {}): Promise<TokenPair> {
    const body = JSON.stringify({ email, password, ...(workspace ? { workspace } : {}) });
    const pair = await this.tokenCall("/api/v1/auth/token", { "Content-Type": "application/json" },
                                      body, call);
    return pair;
  }

  /** Exchange the refresh token for a new pair (POST /api/v1/auth/refresh; it rotates). */
  async refresh(call: CallOptions = {}): Promise<TokenPair> {
    if (!this.#refreshToken) throw new Error("no refresh token to refresh with");
    return this.tokenCall("/api/v1/auth/refresh",
                          { Authorization: `Bearer ${this.#refreshToken}` }, undefined, call);
  }

  private async tokenCall(path: string, headers: Record<string, string>, body: string | undefined,
                          call: CallOptions): Promise<TokenPair> {
    const response = await this.send(`${this.baseUrl}${path}`,
                                     { method: "POST", headers, body }, call);
    const parsed = await readBody(response);
    if (!response.ok) throw errorFrom(response.status, parsed, response.headers);
    const pair = parsed as TokenPair;
    this.#accessToken = pair.access_token;
    this.#refreshToken = pair.refresh_token;
    this.options.onTokens?.(pair);
    return pair;
  }

  private async authenticated(request: Request, call: CallOptions): Promise<Response> {
    const body = request.body === null ? undefined : await request.arrayBuffer();
    const isAuthCall = AUTH_PATHS.some((path) => new URL(request.url).pathname === path);
    if (!isAuthCall && "email" in this.#credentials && !this.#accessToken) {
      await this.renew(call);
    }
    const attempt = (): Promise<Response> => {
      const headers = new Headers(request.headers);
      for (const [name, value] of Object.entries(this.options.headers)) {
        if (!headers.has(name)) headers.set(name, value);
      }
      if (!isAuthCall) this.authorize(headers);
      return this.send(request.url, { method: request.method, headers, body }, call);
    };
    const response = await attempt();
    if (response.status !== 401 || isAuthCall || "apiKey" in this.#credentials) return response;
    const renewable = this.#refreshToken !== undefined || "email" in this.#credentials;
    if (!renewable) return response;
    await response.body?.cancel();
    await this.renew(call);
    return attempt();
  }

  private authorize(headers: Headers): void {
    if ("apiKey" in this.#credentials) headers.set("X-API-Key", this.#credentials.apiKey);
    else if (this.#accessToken) headers.set("Authorization", `Bearer ${this.#accessToken}`);
  }

  /** One refresh (or sign-in) at a time: concurrent 401s wait for the same renewal. */
  private renew(call: CallOptions): Promise<void> {
    this.renewing ??= (async () => {
      try {
        if (this.#refreshToken) {
          try {
            await this.refresh(call);
            return;
          } catch (error) {
            if (!("email" in this.#credentials)) throw error;
          }
        }
        if ("email" in this.#credentials) {
          const { email, password, workspace } = this.#credentials;
          await this.signIn(email, password, workspace, call);
        }
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  /** Send with a timeout per attempt, retrying as the policy (above) allows. */
  async send(url: string, init: RequestInit, call: CallOptions = {}): Promise<Response> {
    const deadline = Date.now() + this.options.retryDeadlineMs;
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const maxRetries = retriable(init.method, init.headers) ? this.options.maxRetries : 0;
    for (let retry = 0; ; retry++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
      let response: Response;
      try {
        response = await this.options.fetch(url, { ...init, signal });
      } catch (error) {
        const timedOut = asTimeout(error, timeoutMs, url);
        if (timedOut) throw timedOut;
        const waitMs = this.backoffMs(retry);
        const again = connectionFailed(error) && retry < maxRetries &&
                      Date.now() + waitMs <= deadline;
        if (!again) {
          throw new TransportError(`could not reach ${url}: ${reason(error)}`, { cause: error });
        }
        await sleep(waitMs, call.signal);
        continue;
      }
      if (!RETRIED.has(response.status) || retry >= maxRetries) return response;
      const asked = retryAfterSeconds(response.headers.get("Retry-After"));
      const waitMs = asked === undefined ? this.backoffMs(retry) : asked * 1000;
      if (Date.now() + waitMs > deadline) return response;
      await response.body?.cancel();
      await sleep(waitMs, call.signal);
    }
  }

  /** Exponential backoff with full jitter, without a Retry-After: ≤ 0.5, 1, 2, 4, 8 s (default). */
  private backoffMs(retry: number): number {
    return Math.random() * Math.min(8_000, this.options.retryBackoffMs * 2 ** retry);
  }
}

/** A fetch or body read that an AbortSignal ended, as a `Timeout` (undefined for other errors). */
export function asTimeout(error: unknown, timeoutMs: number | undefined,
                          url: string): Timeout | undefined {
  const name = (error as { name?: string } | null)?.name;
  const within = timeoutMs === undefined ? "" : ` within ${timeoutMs} ms`;
  if (name === "TimeoutError") return new Timeout(`no answer from ${url}${within}`, { cause: error });
  if (name === "AbortError") return new Timeout(`the call to ${url} was aborted`, { cause: error });
  return undefined;
}

/** Whether fetch failed because the connection failed or dropped before an answer. */
function connectionFailed(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | null)?.cause;
  return cause?.code !== undefined && CONNECTION_ERRORS.has(cause.code);
}

/** What made fetch fail, for the error's message (undici puts it in `cause`). */
function reason(error: unknown): string {
  const cause = (error as { cause?: { message?: string } } | null)?.cause;
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Timeout("the call was aborted"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Timeout("the call was aborted"));
    }, { once: true });
  });
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}
