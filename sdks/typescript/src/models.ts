/** Named types for the API's models, from the generated OpenAPI types (src/generated/). */
import type { components as V1 } from "./generated/v1.js";
import type { components as V2 } from "./generated/v2.js";

type S2 = V2["schemas"];
type S1 = V1["schemas"];

/**
 * An enum of the API, kept open: a value a newer server added (a new execution status) comes
 * through as the string it is, so code switching on it needs a default branch. The known values
 * still autocomplete.
 */
export type Open<T extends string> = T | (string & {});
/** `T` with its enum fields `K` opened. */
type WithOpen<T, K extends keyof T> = Omit<T, K> & { [F in K]: Open<Extract<T[F], string>> };

export type Bot = S2["Bot"];
export type BotDetail = S2["BotDetail"];
export type BotCreate = S2["BotCreate"];
export type BotUpdate = S2["BotUpdate"];
export type Version = S2["Version"];
export type VersionSummary = S2["VersionSummary"];
export type VersionCreate = S2["VersionCreate"];
export type ExecutionStatus = Open<S2["Execution"]["status"]>;
export type ExecutionTrigger = Open<S2["Execution"]["trigger"]>;
export type Execution = WithOpen<S2["Execution"], "status" | "trigger">;
export type ExecutionSummary = WithOpen<S2["ExecutionSummary"], "status" | "trigger">;
export type ExecutionCreate = S2["ExecutionCreate"];
export type ApiKey = S2["ApiKey"];
export type ApiKeyCreate = S2["ApiKeyCreate"];
export type MintedKey = S2["MintedKey"];
export type Member = S2["Member"];
export type Role = S2["Role"]["role"];
export type AuditEntry = S2["AuditEntry"];
export type UsageReport = S2["UsageReport"];
export type Schedule = S2["Schedule"];
export type ScheduleInput = S2["ScheduleInput"];
export type Me = S1["Me"];
export type Chat = S1["Chat"];
export type ChatAnswer = S1["ChatAnswer"];
export type ChatMessage = S1["Message"];

// Compile-time checks (no code is emitted): a value a newer server adds to an enum is a valid
// value of the model's field, so code reading it must keep a default branch.
type Holds<T extends true> = T;
type Future = "a_value_added_later";
type OpenEnumChecks = [
  Holds<Future extends Execution["status"] ? true : false>,
  Holds<Future extends Execution["trigger"] ? true : false>,
  Holds<Future extends ExecutionSummary["status"] ? true : false>,
  Holds<Future extends ExecutionSummary["trigger"] ? true : false>,
];
