// Moderation calls (flags from anyone; the rest for a stream's moderators and streamer), the
// part of LivefoldClient that acts on chat and users.

import type { Accepted, Json, WriteOptions } from "./client.js";
import { type Call, segment } from "./transport.js";

export type FlagReason = "spam" | "harassment" | "hate" | "sexual" | "violence" | "self_harm" | "other";
export type TermMatch = "word" | "substring" | "regex";

const mod = (streamId: string, rest = "") => `/streams/${segment(streamId)}/moderation${rest}`;
const stream = (streamId: string) => `/streams/${segment(streamId)}`;

export abstract class ModerationCalls {
  protected abstract write(method: Call["method"], path: string, body: Json, options?: WriteOptions): Promise<Accepted>;

  protected abstract read<T = Json>(path: string, query?: Call["query"]): Promise<T>;

  /** Flag a message for the moderators' review (anyone signed in). */
  flagMessage(streamId: string, messageId: string, reason: FlagReason, note?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/chat/${segment(messageId)}/flags`, { reason, note }, options);
  }

  approveMessage(streamId: string, messageId: string, reason?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", mod(streamId, `/queue/${segment(messageId)}/approve`), { reason }, options);
  }

  /** Reject a held or flagged message; optionally time out or ban its author too. */
  rejectMessage(
    streamId: string,
    messageId: string,
    decision: { reason?: string; timeout_until?: number; ban_author?: boolean } = {},
    options?: WriteOptions,
  ): Promise<Accepted> {
    return this.write("POST", mod(streamId, `/queue/${segment(messageId)}/reject`), decision, options);
  }

  timeOut(streamId: string, userId: string, until: number, reason?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", mod(streamId, "/timeouts"), { user_id: userId, until, reason }, options);
  }

  ban(streamId: string, userId: string, reason?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", mod(streamId, "/bans"), { user_id: userId, reason }, options);
  }

  /** Lift a ban or a timeout. */
  unban(streamId: string, userId: string, reason?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", mod(streamId, `/bans/${segment(userId)}`), { reason }, options);
  }

  blockTerm(streamId: string, term: string, match: TermMatch = "word", options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", mod(streamId, "/blocked-terms"), { term, match }, options);
  }

  unblockTerm(streamId: string, term: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", mod(streamId, `/blocked-terms/${segment(term)}`), {}, options);
  }

  allowTerm(streamId: string, term: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", mod(streamId, "/allowed-terms"), { term }, options);
  }

  disallowTerm(streamId: string, term: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", mod(streamId, `/allowed-terms/${segment(term)}`), {}, options);
  }

  /** Set every chat mode at once (followers_only_minutes null: off). */
  setChatModes(
    streamId: string,
    modes: { slow_seconds?: number; followers_only_minutes?: number | null; emote_only?: boolean; subscribers_only?: boolean },
    options?: WriteOptions,
  ): Promise<Accepted> {
    const body = { slow_seconds: 0, followers_only_minutes: null, emote_only: false, subscribers_only: false, ...modes };
    return this.write("PUT", mod(streamId, "/chat-modes"), body, options);
  }

  /** Change automatic filters (classifier_level, links_allowed, caps_ratio, ...). */
  changeFilters(streamId: string, settings: Json, options?: WriteOptions): Promise<Accepted> {
    return this.write("PATCH", mod(streamId, "/filters"), settings, options);
  }

  /** The streamer makes `userId` a moderator of the stream. */
  appointModerator(streamId: string, userId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/moderators`, { user_id: userId }, options);
  }

  removeModerator(streamId: string, userId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", `${stream(streamId)}/moderators/${segment(userId)}`, {}, options);
  }

  blockUser(streamId: string, userId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/blocked-users`, { user_id: userId }, options);
  }

  unblockUser(streamId: string, userId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", `${stream(streamId)}/blocked-users/${segment(userId)}`, {}, options);
  }

  /** Held and flagged messages awaiting a moderator, oldest first. */
  reviewQueue(streamId: string): Promise<Json> {
    return this.read(mod(streamId, "/queue"));
  }

  modLog(streamId: string): Promise<Json> {
    return this.read(mod(streamId, "/log"));
  }

  moderators(streamId: string): Promise<Json> {
    return this.read(`${stream(streamId)}/moderators`);
  }
}
