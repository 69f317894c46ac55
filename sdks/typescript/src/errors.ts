/**
 * Typed errors. Every answer that is not a success becomes a `Codex32Error` (or one of its
 * subclasses chosen by status), whichever API version answered: v2's RFC 9457 problem details
 * (`application/problem+json`) and v1's `{code, status, message, errors}` are read into the same
 * fields.
 */

/** One invalid input: where it was (`json`, `query`, `headers`), a JSON pointer, and why. */
export interface FieldError {
  location: string;
  pointer: string;
  detail: string;
}

/** The fields of a problem, as the API sent them (v1 errors are converted to this shape). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  request_id?: string | null;
  errors?: FieldError[];
}

/** An answer of the API that is not a success. Switch on `status`, `type` or the subclass. */
export class Codex32Error extends Error {
  readonly status: number;
  /** The stable problem type, `urn:codex32:problem:<kind>` (derived from the status on v1). */
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly instance: string | undefined;
  readonly requestId: string | undefined;
  readonly errors: FieldError[];
  /** The parsed body as the server sent it. */
  readonly body: unknown;
  readonly headers: Headers | undefined;

  constructor(problem: Problem, body?: unknown, headers?: Headers) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = new.target.name;
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.instance = problem.instance;
    this.requestId = problem.request_id ?? headers?.get("X-Request-ID") ?? undefined;
    this.errors = problem.errors ?? [];
    this.body = body;
    this.headers = headers;
  }
}

export class BadRequest extends Codex32Error {}
export class Unauthenticated extends Codex32Error {}
export class Forbidden extends Codex32Error {}
export class NotFound extends Codex32Error {}
export class Conflict extends Codex32Error {}
export class InvalidInput extends Codex32Error {}

/** 429 (or a 503 that retries could not outlast): `retryAfter` is in seconds when known. */
export class RateLimited extends Codex32Error {
  readonly retryAfter: number | undefined;

  constructor(problem: Problem, body?: unknown, headers?: Headers) {
    super(problem, body, headers);
    this.retryAfter = retryAfterSeconds(headers?.get("Retry-After") ?? null);
  }
}

export class ServiceUnavailable extends RateLimited {}

/** No answer to read: the server could not be reached, or the connection broke. */
export class TransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The call did not finish within its timeout (or was aborted by the caller's signal). */
export class Timeout extends TransportError {}

const KINDS: Record<number, string> = {
  400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
  405: "method-not-allowed", 406: "unsupported-version", 409: "conflict", 413: "too-large",
  415: "unsupported-media-type", 422: "invalid-input", 429: "rate-limited",
  500: "internal-error", 502: "bad-gateway", 503: "unavailable", 504: "gateway-timeout",
};

const CLASSES: Record<number, typeof Codex32Error> = {
  400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict,
  422: InvalidInput, 429: RateLimited, 503: ServiceUnavailable,
};

/** The error for an answer: its status, its parsed body (or text) and its headers. */
export function errorFrom(status: number, body: unknown, headers?: Headers): Codex32Error {
  const ErrorClass = CLASSES[status] ?? Codex32Error;
  return new ErrorClass(problemOf(status, body), body, headers);
}

function problemOf(status: number, body: unknown): Problem {
  const fallbackType = `urn:codex32:problem:${KINDS[status] ?? "error"}`;
  if (body !== null && typeof body === "object") {
    const fields = body as Record<string, unknown>;
    if (typeof fields["type"] === "string" && typeof fields["title"] === "string") {
      return { ...(fields as unknown as Problem), status };   // v2: problem details
    }
    return {                                                   // v1: {code, status, message, errors}
      type: fallbackType,
      title: typeof fields["status"] === "string" ? fields["status"] : String(status),
      status,
      detail: typeof fields["message"] === "string" ? fields["message"] : "",
      errors: flattenV1Errors(fields["errors"]),
    };
  }
  return { type: fallbackType, title: String(status), status,
           detail: typeof body === "string" ? body.slice(0, 500) : "" };
}

/** v1's `{"json": {"name": ["must not be blank"]}}` as field errors. */
function flattenV1Errors(errors: unknown): FieldError[] {
  const found: FieldError[] = [];
  const walk = (location: string, value: unknown, pointer: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) {
        if (typeof item === "string") found.push({ location, pointer: pointer || "/", detail: item });
        else walk(location, item, pointer);
      }
    } else if (value !== null && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(location, inner, `${pointer}/${key}`);
    } else if (typeof value === "string") {
      found.push({ location, pointer: pointer || "/", detail: value });
    }
  };
  if (errors !== null && typeof errors === "object") {
    for (const [location, value] of Object.entries(errors)) walk(location, value, "");
  }
  return found;
}

/** A `Retry-After` header (seconds or an HTTP date) in seconds; undefined when absent or bad. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}
