import type { Frame, Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { count, handle, hue, initial, since } from "../format";
import { api, follow } from "../live";
import { Chat } from "../watch/chat";
import { PollCard } from "../watch/poll";
import { Reactions } from "../watch/reactions";

const CHANNELS = ["stream", "chat", "reactions", "polls", "audience"];

/** A stream's live views, kept from its channels' snapshots and batches. */
export interface LiveViews {
  stream: Json | null;
  viewers: number | null;
  messages: Json[]; // the chat, oldest first
  pinned: Json | null;
  reactions: Json | null;
  polls: Record<string, Json>;
  refused: string | null; // the last write the gateway or a fold refused, and why
}

function folded(views: LiveViews, frame: Frame): LiveViews {
  if (frame.type === "rejected") return { ...views, refused: frame.reason };
  if (frame.type !== "snapshot" && frame.type !== "batch") return views;
  const latest = frame.updates.at(-1)?.value;
  switch (frame.channel) {
    case "chat":
      return chatFolded(views, frame, latest);
    case "stream":
      return latest ? { ...views, stream: latest, viewers: Number(latest.viewers ?? views.viewers ?? 0) } : views;
    case "audience":
      return latest && typeof latest.viewers === "number" ? { ...views, viewers: latest.viewers } : views;
    case "reactions":
      return latest ? { ...views, reactions: latest } : views;
    case "polls": {
      const polls = { ...views.polls };
      for (const update of frame.updates) if (update.value.poll_id) polls[String(update.value.poll_id)] = update.value;
      return { ...views, polls };
    }
    default:
      return views;
  }
}

const KEPT_MESSAGES = 200;

function chatFolded(views: LiveViews, frame: Frame & { type: "snapshot" | "batch" }, latest: Json | undefined): LiveViews {
  let messages = views.messages;
  if (frame.type === "snapshot" && latest && Array.isArray(latest.messages)) messages = latest.messages as Json[];
  for (const notice of frame.notices) {
    const id = notice.value.message_id;
    if (notice.kind === "message") {
      if (!messages.some((message) => message.message_id === id)) messages = [...messages, notice.value];
    } else if (id !== undefined) {
      messages = messages.filter((message) => message.message_id !== id); // deleted, removed...
    }
  }
  const pinned = latest && "pinned" in latest ? ((latest.pinned as Json | null) ?? null) : views.pinned;
  return { ...views, messages: messages.slice(-KEPT_MESSAGES), pinned };
}

function Player({ stream }: { stream: Json | null }) {
  const status = String(stream?.status ?? "");
  const message = status === "ended" ? "This stream has ended" : status === "live" ? "Stream offline" : "Waiting for the stream to start";
  return (
    <div class="player" role="img" aria-label={message}>
      <div class="player-idle">
        <span class="player-icon" aria-hidden="true" />
        <p>{message}</p>
        {status === "live" && <p class="muted small">Video is not available yet: chat, reactions and polls are live.</p>}
      </div>
      {status === "live" && <span class="badge live player-badge">LIVE</span>}
    </div>
  );
}

export function Watch({ streamId }: { streamId: string }) {
  const [views, setViews] = useState<LiveViews>({ stream: null, viewers: null, messages: [], pinned: null, reactions: null, polls: {}, refused: null });
  const [missing, setMissing] = useState<string | null>(null);
  useEffect(() => {
    api.stream(streamId).then(
      (stream) => setViews((now) => ({ ...now, stream: now.stream ?? stream, viewers: now.viewers ?? Number(stream.viewers ?? 0) })),
      (error) => setMissing(error.status === 404 ? "This stream does not exist." : String(error.message ?? error)),
    );
    return follow(streamId, CHANNELS, (frame) => {
      if ("stream" in frame && frame.stream !== streamId) return;
      setViews((now) => folded(now, frame));
    });
  }, [streamId]);
  if (missing !== null) return <main class="notice"><p role="alert">{missing}</p><p><a href="/">Back to live streams</a></p></main>;
  const stream = views.stream;
  const streamer = String(stream?.streamer ?? "");
  const polls = Object.values(views.polls).sort((a, b) => Number(b.opened_at ?? 0) - Number(a.opened_at ?? 0));
  const poll = polls.find((one) => one.status === "open") ?? polls[0];
  return (
    <main class="watch">
      <section class="stage">
        <Player stream={stream} />
        <div class="about">
          <span class="avatar large" style={{ "--hue": hue(streamer) }} aria-hidden="true">{initial(streamer)}</span>
          <div class="about-text">
            <h1>{String(stream?.title ?? "…")}</h1>
            <p class="muted">
              {handle(streamer)} · {String(stream?.category ?? "")}
              {stream?.status === "live" && stream.live_at ? ` · ${since(Number(stream.live_at))}` : ""}
            </p>
          </div>
          {views.viewers !== null && (
            <p class="viewers" aria-label={`${views.viewers} watching`} data-testid="viewers">
              <span class="dot" aria-hidden="true" />
              {count(views.viewers)} <span class="muted">watching</span>
            </p>
          )}
        </div>
        <Reactions streamId={streamId} view={views.reactions} />
      </section>
      <aside class="side">
        {poll && <PollCard streamId={streamId} poll={poll} />}
        <Chat streamId={streamId} messages={views.messages} pinned={views.pinned} refused={views.refused} />
      </aside>
    </main>
  );
}
