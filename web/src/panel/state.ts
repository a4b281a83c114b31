// What the control panel knows of a stream live: every channel its staff may follow, folded
// from the shared socket's snapshots and batches (web/src/live.ts), as the watch page folds the
// public ones.

import type { Frame, Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { follow } from "../live";

export const STAFF_CHANNELS = ["stream", "chat", "polls", "quiz", "reactions", "tips", "audience", "media", "moderation", "modlog"];
const KEPT_MESSAGES = 200;
const KEPT_ALERTS = 50;

export interface StudioViews {
  stream: Json | null;
  viewers: number | null;
  messages: Json[]; // chat, oldest first
  pinned: Json | null;
  queue: Json[]; // held and flagged messages awaiting review
  rules: Json | null; // blocked and allowed terms, filters, chat modes
  staff: Json | null; // owner, moderators
  restrictions: Json | null; // banned, timeouts, blocked users
  modlog: Json[];
  reactions: Json | null;
  polls: Record<string, Json>;
  quiz: Record<string, Json>; // questions and leaderboards by key
  tips: Json | null; // totals per currency
  alerts: Json[]; // tips captured since the panel opened, newest first
  media: Record<string, Json>; // clips and recordings by key
  refused: string | null;
}

export const EMPTY: StudioViews = {
  stream: null, viewers: null, messages: [], pinned: null, queue: [], rules: null, staff: null, restrictions: null,
  modlog: [], reactions: null, polls: {}, quiz: {}, tips: null, alerts: [], media: {}, refused: null,
};

function keyed(into: Record<string, Json>, frame: Frame & { type: "snapshot" | "batch" }): Record<string, Json> {
  const next = { ...into };
  for (const update of frame.updates) next[update.key] = update.value;
  return next;
}

export function folded(views: StudioViews, frame: Frame): StudioViews {
  if (frame.type === "rejected") return { ...views, refused: frame.reason };
  if (frame.type !== "snapshot" && frame.type !== "batch") return views;
  const stream = String(frame.stream);
  const own = frame.updates.filter((update) => update.key === stream).at(-1)?.value;
  switch (frame.channel) {
    case "stream":
      return own ? { ...views, stream: own, viewers: Number(own.viewers ?? views.viewers ?? 0) } : views;
    case "audience":
      return own && typeof own.viewers === "number" ? { ...views, viewers: own.viewers } : views;
    case "chat":
      return chatFolded(views, frame, own);
    case "reactions":
      return own ? { ...views, reactions: own } : views;
    case "polls": {
      const polls = { ...views.polls };
      for (const update of frame.updates) if (update.value.poll_id) polls[String(update.value.poll_id)] = update.value;
      return { ...views, polls };
    }
    case "quiz":
      return { ...views, quiz: keyed(views.quiz, frame) };
    case "media":
      return { ...views, media: keyed(views.media, frame) };
    case "tips": {
      const alerts = frame.notices.filter((notice) => notice.kind === "alert").map((notice) => notice.value).reverse();
      return { ...views, tips: own ?? views.tips, alerts: [...alerts, ...views.alerts].slice(0, KEPT_ALERTS) };
    }
    case "moderation": {
      let next = views;
      for (const update of frame.updates) {
        if (update.key === stream) next = { ...next, queue: (update.value.items as Json[] | undefined) ?? [] };
        else if (update.key === `${stream}/rules`) next = { ...next, rules: update.value };
        else if (update.key === `${stream}/staff`) next = { ...next, staff: update.value };
        else if (update.key === `${stream}/restrictions`) next = { ...next, restrictions: update.value };
      }
      return next;
    }
    case "modlog":
      return own ? { ...views, modlog: ((own.entries as Json[] | undefined) ?? []).slice().reverse() } : views;
    default:
      return views;
  }
}

function chatFolded(views: StudioViews, frame: Frame & { type: "snapshot" | "batch" }, own: Json | undefined): StudioViews {
  let messages = views.messages;
  if (frame.type === "snapshot" && own && Array.isArray(own.messages)) messages = own.messages as Json[];
  for (const notice of frame.notices) {
    const id = notice.value.message_id;
    if (notice.kind === "message") {
      if (!messages.some((message) => message.message_id === id)) messages = [...messages, notice.value];
    } else if (id !== undefined) {
      messages = messages.filter((message) => message.message_id !== id);
    }
  }
  const pinned = own && "pinned" in own ? ((own.pinned as Json | null) ?? null) : views.pinned;
  return { ...views, messages: messages.slice(-KEPT_MESSAGES), pinned };
}

/** The stream's live views for its staff, kept while the panel is open. */
export function useStudio(streamId: string): StudioViews {
  const [views, setViews] = useState<StudioViews>(EMPTY);
  useEffect(() => {
    setViews(EMPTY);
    return follow(streamId, STAFF_CHANNELS, (frame) => {
      if ("stream" in frame && frame.stream !== streamId) return;
      setViews((now) => folded(now, frame));
    });
  }, [streamId]);
  return views;
}
