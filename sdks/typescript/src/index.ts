/** @codex32/sdk: the TypeScript client of the Codex-32 API. */
export { Codex32, type ClientOptions } from "./client.js";
export {
  BadRequest, Codex32Error, Conflict, Forbidden, InvalidInput, NotFound, RateLimited,
  ServiceUnavailable, Timeout, TransportError, Unauthenticated, type FieldError, type Problem,
} from "./errors.js";
export { ChatStream, type ChatDone } from "./llm.js";
export type * from "./models.js";
export { Paginator, type Page } from "./pagination.js";
export type { CallOptions, Credentials, TokenPair, TransportOptions } from "./transport.js";
export type { CreateExecutionOptions } from "./resources.js";
export { API_VERSION, SDK_VERSION } from "./version.js";
export type * as v1 from "./generated/v1.js";
export type * as v2 from "./generated/v2.js";
