/** Named types for the API's models, from the generated OpenAPI types (src/generated/). */
import type { components as V1 } from "./generated/v1.js";
import type { components as V2 } from "./generated/v2.js";

type S2 = V2["schemas"];
type S1 = V1["schemas"];

export type Bot = S2["Bot"];
export type BotDetail = S2["BotDetail"];
export type BotCreate = S2["BotCreate"];
export type BotUpdate = S2["BotUpdate"];
export type Version = S2["Version"];
export type VersionSummary = S2["VersionSummary"];
export type VersionCreate = S2["VersionCreate"];
export type Execution = S2["Execution"];
export type ExecutionSummary = S2["ExecutionSummary"];
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
