import type { Frame, Json } from "livefold-sdk";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { count, hue, initial, since } from "../format";
import { t } from "../i18n";
import { api, follow } from "../live";
import { nameOf, useNames } from "../names";
import { Player } from "../player/player";
import { PastMedia } from "./recording";
import { FollowButton, ShareButton } from "../watch/actions";
import { Chat, type Feedback } from "../watch/chat";
import { PollCard } from "../watch/poll";
import { QuizCard } from "../watch/quiz";
import { Bursts, Reactions } from "../watch/reactions";
import type { Refused } from "../watch/refused";
import { TipButton } from "../watch/tip";

const CHANNELS = ["stream", "chat", "reactions", "polls", "quiz", "tips", "audience"];
const KEPT_MESSAGES = 1000; // the chat list is windowed: this many cost what a screenful does
const MOST_HELD = 10_000; // scrolled back, the list grows past KEPT_MESSAGES up to this many
const FIRST_SHOWN = 50; // of the snapshot's recent messages; earlier ones load on scrolling up
const PAGE = 50;

/** Where earlier chat comes from: the gateway's recent messages (`GET .../chat`, in memory, so
 * never behind the live chat) while they reach, then the whole chat (`GET .../chat/history`,
 * from ClickHouse, about a second behind the log). */
type OlderFrom = "recent" | "history";

/** A stream's live views, kept from its channels' snapshots and batches. */
export interface LiveViews {
  stream: Json | null;
  viewers: number | null;
  messages: Json[]; // the chat, oldest first
  older: string | null; // the cursor of earlier chat history (null: none)
  olderFrom: OlderFrom;
  beginning: boolean; // without older: the first message held is the stream's first
  held: number; // how many messages the list keeps: more once the viewer scrolled back
  pinned: Json | null;
  reactions: Json | null;
  polls: Record<string, Json>;
  quiz: Record<string, Json>; // questions, leaderboards and your rank, by key
  tips: Record<string, Json>; // your tips' records, by tip id
  feedback: Record<string, Feedback>; // your messages moderation held or blocked
  refused: Record<"chat" | "polls" | "quiz", Refused | null>;
}

const EMPTY: LiveViews = {
  stream: null,
  viewers: null,
  messages: [],
  older: null,
  olderFrom: "recent",
  beginning: true,
  held: KEPT_MESSAGES,
  pinned: null,
  reactions: null,
  polls: {},
  quiz: {},
  tips: {},
  feedback: {},
  refused: { chat: null, polls: null, quiz: null },
};

const position = (message: Json) => `${Number(message.at)}:${String(message.message_id)}`;
const earlierThan = (a: Json, b: Json) =>
  Number(a.at) < Number(b.at) || (Number(a.at) === Number(b.at) && String(a.message_id) < String(b.message_id));

/** `messages` with `message` in chat order, (at, message_id), the order scroll-back pages in.
 * Live notices come in the log's order, which can differ by a few ms between writers; the
 * oldest held must be the oldest in chat order, or scroll-back below it would skip a message. */
function inChatOrder(messages: Json[], message: Json): Json[] {
  let index = messages.length;
  while (index > 0 && earlierThan(message, messages[index - 1]!)) index--;
  return index === messages.length ? [...messages, message] : [...messages.slice(0, index), message, ...messages.slice(index)];
}

function folded(views: LiveViews, frame: Frame): LiveViews {
  if (frame.type === "held") return { ...views, feedback: { ...views.feedback, [frame.message_id]: { status: "held", reason: frame.reason } } };
  if (frame.type === "rejected") {
    if (frame.message_id) return { ...views, feedback: { ...views.feedback, [frame.message_id]: { status: "blocked", reason: frame.reason } } };
    const where = frame.channel === "polls" || frame.channel === "quiz" ? frame.channel : "chat";
    return { ...views, refused: { ...views.refused, [where]: { reason: frame.reason } } };
  }
  if (frame.type !== "snapshot" && frame.type !== "batch") return views;
  const latest = frame.updates.at(-1)?.value;
  switch (frame.channel) {
    case "chat":
      return chatFolded(views, frame, latest);
    case "stream": {
      const stream = frame.updates.find((update) => update.key === frame.stream || (!update.key.includes("/") && "title" in update.value))?.value;
      return stream ? { ...views, stream, viewers: Number(stream.viewers ?? views.viewers ?? 0) } : views;
    }
    case "audience":
      return latest && typeof latest.viewers === "number" ? { ...views, viewers: latest.viewers } : views;
    case "reactions":
      return latest ? { ...views, reactions: latest } : views;
    case "polls": {
      const polls = { ...views.polls };
      for (const update of frame.updates) if (update.value.poll_id) polls[String(update.value.poll_id)] = update.value;
      return { ...views, polls };
    }
    case "quiz": {
      const quiz = { ...views.quiz };
      for (const update of frame.updates) quiz[update.key] = update.value;
      return { ...views, quiz };
    }
    case "tips": {
      const tips = { ...views.tips };
      for (const update of frame.updates) if (update.key.includes("/tip/")) tips[String(update.value.tip_id)] = update.value;
      return { ...views, tips };
    }
    default:
      return views;
  }
}

function chatFolded(views: LiveViews, frame: Frame & { type: "snapshot" | "batch" }, latest: Json | undefined): LiveViews {
  let messages = views.messages;
  let { older, olderFrom, beginning } = views;
  if (frame.type === "snapshot" && latest && Array.isArray(latest.messages)) {
    const recent = latest.messages as Json[];
    messages = recent.slice(-FIRST_SHOWN);
    const dropped = latest.from_first === false; // the gateway keeps not the stream's oldest
    olderFrom = recent.length > messages.length ? "recent" : "history";
    older = messages.length && (recent.length > messages.length || dropped) ? position(messages[0]!) : null;
    beginning = older === null && !dropped;
  }
  for (const notice of frame.notices) {
    const id = notice.value.message_id;
    if (notice.kind === "message") {
      if (!messages.some((message) => message.message_id === id)) messages = inChatOrder(messages, notice.value);
    } else if (id !== undefined) {
      messages = messages.filter((message) => message.message_id !== id); // deleted, removed...
    }
  }
  const pinned = latest && "pinned" in latest ? ((latest.pinned as Json | null) ?? null) : views.pinned;
  if (messages.length > views.held) {
    messages = messages.slice(-views.held); // the oldest held leave this list...
    [older, olderFrom, beginning] = [position(messages[0]!), "history", false]; // ...and come back
  }
  return { ...views, messages, older, olderFrom, beginning, pinned };
}

/** The page of chat before `cursor`, oldest first, and where the next earlier page is: a cursor
 * and its source, or null (that page began with the stream's first message). */
async function earlierChat(streamId: string, cursor: string, from: OlderFrom): Promise<{ earlier: Json[]; next: string | null; nextFrom: OlderFrom }> {
  if (from === "recent") {
    const page = await api.chatHistory(streamId, { cursor, limit: PAGE });
    const earlier = page.items as unknown as Json[];
    if (page.next_cursor !== null) return { earlier, next: page.next_cursor, nextFrom: "recent" };
    const oldest = earlier[0] ?? null; // the gateway dropped older ones: the whole chat has them
    return { earlier, next: page.from_first === false ? (oldest ? position(oldest) : cursor) : null, nextFrom: "history" };
  }
  let before: string | null = cursor;
  for (let tries = 0; before !== null && tries < 5; tries++) {
    const page = await api.chatScrollback(streamId, { before, limit: PAGE });
    before = page.next_cursor;
    if (page.messages.length) return { earlier: page.messages as unknown as Json[], next: before, nextFrom: "history" };
  } // a page of hidden messages only: look further back at once
  return { earlier: [], next: before, nextFrom: "history" };
}

function Icon({ path }: { path: string }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <path d={path} />
    </svg>
  );
}

function useFullscreen(target: { current: HTMLElement | null }): [boolean, () => void] {
  const [on, setOn] = useState(false);
  useEffect(() => {
    const changed = () => setOn(document.fullscreenElement === target.current);
    document.addEventListener("fullscreenchange", changed);
    return () => document.removeEventListener("fullscreenchange", changed);
  }, []);
  const toggle = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void target.current?.requestFullscreen?.().catch(() => undefined);
  };
  return [on, toggle];
}

export function Watch({ streamId }: { streamId: string }) {
  useNames();
  const [views, setViews] = useState<LiveViews>(EMPTY);
  const [missing, setMissing] = useState<string | null>(null);
  const [moderators, setModerators] = useState<string[]>([]);
  const [overlayChat, setOverlayChat] = useState(true);
  const page = useRef<HTMLElement>(null);
  const [fullscreen, toggleFullscreen] = useFullscreen(page);
  const loadingOlder = useRef(false);
  useEffect(() => {
    api.stream(streamId).then(
      (stream) => setViews((now) => ({ ...now, stream: now.stream ?? stream, viewers: now.viewers ?? Number(stream.viewers ?? 0) })),
      (error) => setMissing(error.status === 404 ? t("watch.missing") : String(error.message ?? error)),
    );
    api.moderators(streamId).then((staff) => setModerators((staff.moderators ?? []) as string[]), () => undefined);
    return follow(streamId, CHANNELS, (frame) => {
      if ("stream" in frame && frame.stream && frame.stream !== streamId) return;
      setViews((now) => folded(now, frame));
    });
  }, [streamId]);

  const loadOlder = useCallback(() => {
    const cursor = views.older;
    if (cursor === null || loadingOlder.current) return;
    loadingOlder.current = true;
    earlierChat(streamId, cursor, views.olderFrom).then(
      ({ earlier, next, nextFrom }) => {
        loadingOlder.current = false;
        setViews((now) => {
          if (now.older !== cursor) return now;
          const known = new Set(now.messages.map((message) => message.message_id));
          const messages = [...earlier.filter((message) => !known.has(message.message_id)), ...now.messages];
          if (messages.length > MOST_HELD) return { ...now, messages: messages.slice(-MOST_HELD), held: MOST_HELD, older: null, beginning: false };
          const held = Math.max(now.held, messages.length); // what was scrolled back to stays
          return { ...now, messages, held, older: next, olderFrom: nextFrom, beginning: next === null };
        });
      },
      () => (loadingOlder.current = false),
    );
  }, [streamId, views.older, views.olderFrom]);

  if (missing !== null) return <main class="notice"><p role="alert">{missing}</p><p><a href="/">{t("watch.back")}</a></p></main>;
  const stream = views.stream;
  const streamer = String(stream?.streamer ?? "");
  const streamerName = nameOf(streamer);
  const title = String(stream?.title ?? "…");
  const polls = Object.values(views.polls).sort((a, b) => Number(b.opened_at ?? 0) - Number(a.opened_at ?? 0));
  const poll = polls.find((one) => one.status === "open") ?? polls[0];
  const quiz = Object.values(views.quiz);
  return (
    <main class={`watch${fullscreen ? " fullscreen" : ""}${overlayChat ? " overlay-chat" : ""}`} ref={page}>
      <section class="stage">
        <Player streamId={streamId} stream={stream}>
          {views.viewers !== null && stream?.status === "live" && (
            <span class="badge viewers-badge" aria-hidden="true">👁 {count(views.viewers)}</span>
          )}
          <Bursts view={views.reactions} />
          <Reactions streamId={streamId} view={views.reactions} />
          <div class="stage-buttons">
            <button class="player-button chat-toggle" aria-label={t("player.chatOverlay")} aria-pressed={overlayChat} onClick={() => setOverlayChat(!overlayChat)}>
              <Icon path="M4 5h16v10H8l-4 4z" />
            </button>
            <button class="player-button" aria-label={fullscreen ? t("player.exitFullscreen") : t("player.fullscreen")} onClick={toggleFullscreen}>
              <Icon path={fullscreen ? "M9 4v5H4M15 4v5h5M9 20v-5H4M15 20v-5h5" : "M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5"} />
            </button>
          </div>
        </Player>
        <div class="about">
          <span class="avatar large" style={{ "--hue": hue(streamer) }} aria-hidden="true">{initial(streamerName)}</span>
          <div class="about-text">
            <h1>{title}</h1>
            <p class="muted">
              {streamerName} · {String(stream?.category ?? "")}
              {stream?.status === "live" && stream.live_at ? ` · ${since(Number(stream.live_at))}` : ""}
            </p>
          </div>
          {views.viewers !== null && (
            <p class="viewers" aria-label={t("watch.watchingLabel", { count: views.viewers })} data-testid="viewers">
              <span class="dot" aria-hidden="true" />
              {count(views.viewers)} <span class="muted">{t("watch.watching")}</span>
            </p>
          )}
          <div class="stream-actions">
            {streamer && <FollowButton streamId={streamId} />}
            <TipButton streamId={streamId} streamerName={streamerName} records={views.tips} />
            <ShareButton title={title} />
          </div>
        </div>
        {stream?.status === "ended" && <PastMedia streamId={streamId} />}
      </section>
      {(quiz.length > 0 || poll) && (
        <div class="cards">
          {quiz.length > 0 && <QuizCard streamId={streamId} views={quiz} refused={views.refused.quiz} />}
          {poll && <PollCard streamId={streamId} poll={poll} refused={views.refused.polls} />}
        </div>
      )}
      <aside class="side">
        <Chat
          streamId={streamId}
          messages={views.messages}
          pinned={views.pinned}
          streamer={streamer}
          moderators={moderators}
          feedback={views.feedback}
          refused={views.refused.chat}
          hasOlder={views.older !== null}
          beginning={views.beginning}
          loadOlder={loadOlder}
        />
      </aside>
    </main>
  );
}
