// What a subscription yields: the gateway's /ws frames, typed (discriminated by `type`).
//
// - snapshot: the first frame of each (stream, channel) subscription: the current views, or,
//   when resuming from a cursor, what changed since and the notices missed (`complete` is false
//   when the gateway no longer held all of them: then `updates` is the whole current view);
// - batch: what changed in the last batching window: updates coalesced to the latest value per
//   key, notices (chat messages, deletions, tip alerts) in order;
// - refusal: a subscription the gateway refused (e.g. a moderator-only channel), or ended because
//   the right to a moderator-only channel was lost (op "subscribe" while connected, op "auth"
//   when a token refresh found it), or a refresh it refused (op "auth", no stream: a token for
//   another user);
// - rejected: one of your own writes (REST or socket) that a fold refused after the gateway
//   accepted it, e.g. a vote after the poll closed; every socket signed in as you gets it,
//   subscribed to the stream or not, and it is not replayed after a reconnect;
// - held: one of your chat messages that moderation held for a moderator's review (with why);
//   it shows in chat only if a moderator approves it. A blocked one comes as `rejected` with
//   the same moderation fields. Both go to the author's sockets only;
// - reconnected: the connection dropped and is back; snapshots of the resumed subscriptions follow.

import type { Json } from "./client.js";

export interface Update {
  key: string;
  value: Json;
}

export interface Notice {
  key: string;
  /** e.g. "message", "deleted", "alert". */
  kind: string;
  /** "<partition>:<offset>". */
  pos: string;
  value: Json;
}

export interface Snapshot {
  type: "snapshot";
  stream: string;
  channel: string;
  cursor: string;
  resumed: boolean;
  complete: boolean;
  updates: Update[];
  notices: Notice[];
}

export interface Batch {
  type: "batch";
  stream: string;
  channel: string;
  cursor: string;
  updates: Update[];
  notices: Notice[];
}

export interface Refusal {
  type: "refusal";
  op: string;
  reason: string;
  stream?: string;
  channel?: string;
}

export interface Rejected {
  type: "rejected";
  stream: string;
  channel: string;
  /** The event_id the write's answer carried. */
  event_id: string;
  /** e.g. "livefold.polls.VoteCast". */
  event_type: string;
  reason: string;
  /** A chat message moderation blocked: its id, and the rule and category that decided. */
  message_id?: string;
  rule?: string;
  category?: string;
}

/** Your chat message, held for review: `reason` says why ("held for review: ..."). */
export interface Held {
  type: "held";
  stream: string;
  channel: string;
  event_id: string;
  event_type: string;
  message_id: string;
  rule: string;
  category: string;
  reason: string;
}

/** One of your notifications (docs/notifications.md), on every socket you are signed in on. */
export interface NotificationFrame {
  type: "notification";
  notification: Notification;
}

export interface Notification {
  notification_id: string;
  kind: "stream_live" | "stream_starting_soon" | "chat_reply" | "tip_received" | string;
  stream_id: string;
  audience: "followers" | "user";
  recipient_id: string | null;
  /** Epoch milliseconds. */
  occurred_at: number;
  payload: Record<string, string>;
}

export interface Reconnected {
  type: "reconnected";
  /** Connection attempts it took. */
  attempts: number;
  /** The close code that ended the previous connection (null: it was lost without one). */
  code: number | null;
  reason: string;
}

export type Frame = Snapshot | Batch | Refusal | Rejected | Held | NotificationFrame | Reconnected;

const list = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter((item) => item !== null && typeof item === "object") : [];

const updates = (value: unknown): Update[] =>
  list(value).map((item) => ({ key: String(item.key), value: (item.value ?? {}) as Json }));

const notices = (value: unknown): Notice[] =>
  list(value).map((item) => ({
    key: String(item.key),
    kind: String(item.kind),
    pos: String(item.pos),
    value: (item.value ?? {}) as Json,
  }));

const text = (value: unknown): string => (value === undefined || value === null ? "" : String(value));

/** The fields `held` and a blocked message's `rejected` share. */
function authorFeedback(doc: Record<string, unknown>) {
  return {
    stream: text(doc.stream),
    channel: text(doc.channel),
    event_id: text(doc.event_id),
    event_type: text(doc.event_type),
    reason: text(doc.reason),
  };
}

/** A data frame from the gateway's JSON; null for control frames (pong, welcome...). */
export function parseFrame(doc: Record<string, unknown>): Snapshot | Batch | Refusal | Rejected | Held | NotificationFrame | null {
  const common = {
    stream: String(doc.stream),
    channel: String(doc.channel),
    cursor: typeof doc.cursor === "string" ? doc.cursor : "",
    updates: updates(doc.updates),
    notices: notices(doc.notices),
  };
  switch (doc.type) {
    case "snapshot":
      return { type: "snapshot", ...common, resumed: doc.resumed === true, complete: doc.complete !== false };
    case "batch":
      return { type: "batch", ...common };
    case "rejected": {
      const rejected: Rejected = { type: "rejected", ...authorFeedback(doc) };
      for (const name of ["message_id", "rule", "category"] as const) if (typeof doc[name] === "string") rejected[name] = doc[name];
      return rejected;
    }
    case "held":
      return { type: "held", ...authorFeedback(doc), message_id: text(doc.message_id), rule: text(doc.rule), category: text(doc.category) };
    case "notification":
      return { type: "notification", notification: (doc.notification ?? {}) as Notification };
    case "error": {
      const refusal: Refusal = { type: "refusal", op: String(doc.op ?? ""), reason: String(doc.reason ?? "") };
      if (typeof doc.stream === "string") refusal.stream = doc.stream;
      if (typeof doc.channel === "string") refusal.channel = doc.channel;
      return refusal;
    }
    default:
      return null;
  }
}
