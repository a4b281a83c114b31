// A chat message's text as the app shows it: emotes (the message's own `emotes` spans, named
// from livefold's built-in set) as pictures, @mentions marked (yours stronger). Sending, the
// spans of every emote name typed as a word are worked out here, in code points, as the schema
// counts them.

import type { Json } from "livefold-sdk";
import type { ComponentChildren } from "preact";

// livefold's built-in emotes: a name typed in chat, and the picture shown for it.
export const EMOTES: Record<string, string> = {
  PogChamp: "😮",
  LUL: "😂",
  Kappa: "😏",
  GG: "🏆",
  HeyGuys: "👋",
  SeemsGood: "👍",
  NotLikeThis: "😩",
  Hype: "🎉",
};

interface Span {
  start: number;
  end: number;
}

/** The `emotes` field of a message with this text: where each emote name stands as a word. */
export function emotesIn(text: string): Json[] {
  const points = [...text];
  const found = new Map<string, Span[]>();
  let start = 0;
  for (let index = 0; index <= points.length; index++) {
    if (index < points.length && !/\s/.test(points[index]!)) continue;
    const word = points.slice(start, index).join("");
    if (word in EMOTES) found.set(word, [...(found.get(word) ?? []), { start, end: index }]);
    start = index + 1;
  }
  return [...found].map(([name, positions]) => ({ name, positions }));
}

function spansOf(message: Json, length: number): { name: string; start: number; end: number }[] {
  const spans: { name: string; start: number; end: number }[] = [];
  for (const emote of (Array.isArray(message.emotes) ? message.emotes : []) as Json[]) {
    const name = String(emote.name ?? "");
    if (!(name in EMOTES)) continue;
    for (const position of (Array.isArray(emote.positions) ? emote.positions : []) as Span[]) {
      if (Number.isInteger(position.start) && Number.isInteger(position.end) && position.start >= 0 && position.end <= length && position.start < position.end) {
        spans.push({ name, start: position.start, end: position.end });
      }
    }
  }
  spans.sort((a, b) => a.start - b.start);
  return spans.filter((span, index) => index === 0 || span.start >= spans[index - 1]!.end);
}

function withMentions(text: string, myUsername: string | null): ComponentChildren[] {
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(/(^|\s)@([\p{L}\p{N}_.-]{2,32})/gu)) {
    const at = match.index! + match[1]!.length;
    if (at > last) parts.push(text.slice(last, at));
    const name = match[2]!;
    const mine = myUsername !== null && name.toLowerCase() === myUsername.toLowerCase();
    parts.push(<span class={mine ? "mention me" : "mention"}>@{name}</span>);
    last = at + 1 + name.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function mentions(text: string, username: string | null): boolean {
  if (username === null) return false;
  const wanted = `@${username.toLowerCase()}`;
  return text
    .toLowerCase()
    .split(/\s+/)
    .some((word) => word.replace(/[^\p{L}\p{N}_.@-]/gu, "") === wanted);
}

export function MessageText({ message, myUsername }: { message: Json; myUsername: string | null }) {
  const text = message.text === null ? "" : String(message.text ?? "");
  const points = [...text];
  const parts: ComponentChildren[] = [];
  let at = 0;
  for (const span of spansOf(message, points.length)) {
    if (span.start > at) parts.push(...withMentions(points.slice(at, span.start).join(""), myUsername));
    parts.push(
      <span class="emote emoji" role="img" aria-label={span.name} title={span.name}>
        {EMOTES[span.name]}
      </span>,
    );
    at = span.end;
  }
  if (at < points.length) parts.push(...withMentions(points.slice(at).join(""), myUsername));
  return <span class="text">{parts}</span>;
}
