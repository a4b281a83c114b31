// A recording (VOD, `/vod/<stream>/<recording>`, played over HLS) or a clip (`/clip/<clip id>`, an
// MP4), with the chat replayed in step with the video: the replay API gives every message at its
// offset into the recording, and the list shows those the video has passed (seeking back hides
// the later ones again).

import type { Json, ReplayItem } from "livefold-sdk";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { hue } from "../format";
import { t } from "../i18n";
import { api } from "../live";
import { nameOf, useNames } from "../names";
import { playHls } from "../player/player";
import { MessageText } from "../watch/message-text";
import { VirtualList } from "../watch/virtual-list";

const MOST_PAGES = 50; // of 200 log events each: a long recording's replay, fetched once

export type Recorded = { kind: "vod"; streamId: string; recordingId: string } | { kind: "clip"; clipId: string };

interface Loaded {
  streamId: string;
  recordingId: string;
  title: string;
  from: number; // ms into the recording where the video starts
  to: number | undefined;
  play: (video: HTMLVideoElement) => Promise<() => void>;
}

async function load(what: Recorded): Promise<Loaded> {
  if (what.kind === "vod") {
    const vod = await api.recording(what.streamId, what.recordingId);
    const stream = await api.stream(what.streamId);
    return {
      streamId: what.streamId,
      recordingId: what.recordingId,
      title: String(stream.title ?? ""),
      from: 0,
      to: vod.duration_ms,
      play: async (video) => (await playHls(video, new URL(vod.playlist_url, location.origin).toString(), () => undefined)).stop,
    };
  }
  const clip = await api.clip(what.clipId);
  if (clip.status !== "ready" || !clip.video_url) throw new Error(clip.status === "failed" ? String(clip.reason ?? "failed") : "processing");
  return {
    streamId: clip.stream_id,
    recordingId: clip.recording_id,
    title: String(clip.title ?? ""),
    from: clip.start_offset_ms,
    to: clip.end_offset_ms,
    play: async (video) => {
      video.src = new URL(clip.video_url!, location.origin).toString();
      return () => video.removeAttribute("src");
    },
  };
}

async function replayOf(loaded: Loaded): Promise<ReplayItem[]> {
  const items: ReplayItem[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MOST_PAGES; page++) {
    const query: { recording_id: string; from_ms: number; to_ms?: number; limit: number; cursor?: string } = { recording_id: loaded.recordingId, from_ms: loaded.from, limit: 200 };
    if (loaded.to !== undefined) query.to_ms = loaded.to;
    if (cursor !== undefined) query.cursor = cursor;
    const answer = await api.replay(loaded.streamId, query);
    items.push(...answer.items);
    if (!answer.next_cursor) break;
    cursor = answer.next_cursor;
  }
  return items;
}

export function Recording({ what }: { what: Recorded }) {
  useNames();
  const video = useRef<HTMLVideoElement>(null);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [items, setItems] = useState<ReplayItem[]>([]);
  const [at, setAt] = useState(0); // ms into the recording the video shows
  useEffect(() => {
    let stop: (() => void) | null = null;
    load(what).then(
      async (found) => {
        setLoaded(found);
        setAt(found.from);
        replayOf(found).then(setItems, (error) => setProblem(String(error.message ?? error)));
        if (video.current) stop = await found.play(video.current);
      },
      (error) => setProblem(String(error.message ?? error)),
    );
    return () => stop?.();
  }, [JSON.stringify(what)]);

  const messages = useMemo(() => items.filter((item) => item.type === "message"), [items]);
  const shown = useMemo(() => {
    let count = 0;
    while (count < messages.length && messages[count]!.offset_ms <= at) count++;
    return messages.slice(Math.max(0, count - 500), count).map((item) => (item as { message: Json }).message);
  }, [messages, at]);
  const reactions = items.filter((item) => item.type === "reaction" && item.offset_ms <= at).reduce((sum, item) => sum + Number((item as { count: number }).count ?? 1), 0);
  const moved = () => {
    const element = video.current;
    if (!element || !loaded) return;
    // At the end, all of it: the recording's segments may end before its last chat did.
    const ended = element.ended || (element.duration > 0 && element.duration - element.currentTime < 0.5);
    setAt(ended ? Number.MAX_SAFE_INTEGER : loaded.from + Math.round(element.currentTime * 1000));
  };

  if (problem !== null) return <main class="notice"><p role="alert">{problem}</p><p><a href="/">{t("watch.back")}</a></p></main>;
  return (
    <main class="watch recording" data-recording={loaded?.recordingId}>
      <section class="stage">
        <div class="player playing">
          <video ref={video} class="video" controls playsInline muted autoPlay onTimeUpdate={moved} onSeeked={moved} onEnded={moved} aria-label={loaded?.title ?? ""} />
        </div>
        <div class="about">
          <div class="about-text">
            <p class="poll-kind">{what.kind === "clip" ? t("vod.clip") : t("vod.title")}</p>
            <h1>{loaded?.title ?? "…"}</h1>
            {loaded && <p class="muted"><a href={`/watch/${encodeURIComponent(loaded.streamId)}`}>{t("watch.back")}</a></p>}
          </div>
          <p class="viewers replay-reactions" aria-live="off">❤️ {reactions}</p>
        </div>
      </section>
      <aside class="side">
        <section class="chat" aria-label={t("vod.replay")}>
          <h2 class="chat-title">{t("vod.replay")}</h2>
          <div class="chat-list">
            <VirtualList
              items={shown}
              keyOf={(message) => String(message.message_id)}
              label={t("vod.replay")}
              header={shown.length === 0 ? <p class="muted empty">{t("vod.nothing")}</p> : undefined}
              render={(message) => (
                <div class="line" data-message={String(message.message_id)}>
                  <span class="author" style={{ "--hue": hue(String(message.author)) }}>{nameOf(String(message.author))}</span>
                  <MessageText message={message} myUsername={null} />
                </div>
              )}
            />
          </div>
        </section>
      </aside>
    </main>
  );
}

/** An ended stream's recordings and clips, linked to their pages. */
export function PastMedia({ streamId }: { streamId: string }) {
  const [vods, setVods] = useState<Json[]>([]);
  const [clips, setClips] = useState<Json[]>([]);
  useEffect(() => {
    api.recordings(streamId).then((page) => setVods(page.items as unknown as Json[]), () => undefined);
    api.clips(streamId).then((page) => setClips((page.items as unknown as Json[]).filter((clip) => clip.status === "ready")), () => undefined);
  }, [streamId]);
  if (!vods.length && !clips.length) return null;
  const minutes = (ms: unknown) => `${Math.max(1, Math.round(Number(ms ?? 0) / 60_000))} min`;
  return (
    <nav class="past-media" aria-label={t("vod.recordings")}>
      {vods.map((vod) => (
        <a class="chip" href={`/vod/${encodeURIComponent(streamId)}/${encodeURIComponent(String(vod.recording_id))}`}>▶ {t("vod.title")} · {minutes(vod.duration_ms)}</a>
      ))}
      {clips.map((clip) => (
        <a class="chip" href={`/clip/${encodeURIComponent(String(clip.clip_id))}`}>✂ {String(clip.title ?? t("vod.clip"))}</a>
      ))}
    </nav>
  );
}
