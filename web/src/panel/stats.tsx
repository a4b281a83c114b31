// Live figures for the streamer: viewers now and peak, chat and reactions per minute, tips, and
// the health of a broadcast from this browser (its WebRTC sender's own statistics: bitrate,
// frame rate, frames dropped, packets lost).

import type { Json } from "livefold-sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { count } from "../format";
import type { StudioViews } from "./state";

const money = (minor: number, currency: string) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);

export function tipsText(net: Record<string, number> | undefined): string {
  const amounts = Object.entries(net ?? {}).filter(([, minor]) => minor !== 0);
  return amounts.length === 0 ? "0" : amounts.map(([currency, minor]) => money(minor, currency)).join(" · ");
}

/** Reactions per minute, measured here from the running total (the stream view's). */
function useReactionRate(total: number): number {
  const samples = useRef<[at: number, total: number][]>([]);
  const [rate, setRate] = useState(0);
  useEffect(() => {
    const now = Date.now();
    samples.current = [...samples.current.filter(([at]) => now - at < 60_000), [now, total]];
    setRate(total - samples.current[0]![1]); // in the last minute (since the panel opened, at first)
  }, [total]);
  return rate;
}

/** The ingest as the media service measured it (any encoder: this browser, OBS over RTMP...): at
 * the start, then its input bitrate, fps and dropped frames as they change. */
function Ingest({ ingest }: { ingest: Json | undefined }) {
  if (!ingest) return <p class="muted small">No video yet: go live from this browser or start your encoder.</p>;
  const live = ingest.status === "live";
  const since = new Date(Number(live ? ingest.started_at : ingest.stopped_at)).toLocaleTimeString();
  return (
    <div class={`health ${live ? "good" : "poor"}`} aria-label="Ingest" data-testid="ingest">
      <span class="health-dot" aria-hidden="true" />
      <span><b>{String(ingest.protocol) === "webrtc" ? "WHIP" : String(ingest.protocol).toUpperCase()}</b></span>
      <span>{String(ingest.codec)}{ingest.audio_codec ? ` + ${String(ingest.audio_codec)}` : ""}</span>
      <span><b>{Number(ingest.width)}×{Number(ingest.height)}</b></span>
      <span data-figure="fps"><b>{Math.round(Number(ingest.fps))}</b> fps</span>
      {live && ingest.bitrate_kbps != null && (
        <>
          <span data-figure="bitrate"><b>{Math.round(Number(ingest.bitrate_kbps))}</b> kbit/s</span>
          <span data-figure="dropped"><b>{Number(ingest.dropped_frames ?? 0)}</b> dropped</span>
        </>
      )}
      <span>{live ? `since ${since}` : `stopped ${since} (${String(ingest.stop_reason)})`}</span>
    </div>
  );
}

export function LiveStats({ views }: { views: StudioViews }) {
  const stream = views.stream;
  const reactionRate = useReactionRate(Number(stream?.reactions_total ?? 0));
  const figures: [label: string, value: string, id: string][] = [
    ["watching now", count(views.viewers ?? 0), "viewers"],
    ["peak viewers", count(Number(stream?.peak_viewers ?? 0)), "peak"],
    ["chat / min", count(Number(stream?.chat_per_minute ?? 0)), "chat-rate"],
    ["reactions / min", count(reactionRate), "reaction-rate"],
    ["messages", count(Number(stream?.chat_messages ?? 0)), "messages"],
    ["tips", tipsText(stream?.tips as Record<string, number> | undefined), "tips"],
  ];
  return (
    <section class="pane" aria-label="Live stats">
      <h2>Live stats</h2>
      <dl class="stats">
        {figures.map(([label, value, id]) => (
          <div class="stat" data-stat={id}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <Ingest ingest={views.media[`${String(stream?.stream_id ?? "")}/ingest`]} />
    </section>
  );
}

interface Sample {
  at: number;
  bytes: number;
  frames: number;
}

/** The WebRTC sender's figures, every 2 s. */
export function Health({ peer }: { peer: RTCPeerConnection }) {
  const last = useRef<Sample | null>(null);
  const [figures, setFigures] = useState<{ kbps: number; fps: number; size: string; dropped: number; lost: number; state: string } | null>(null);
  useEffect(() => {
    const measure = async () => {
      const report = await peer.getStats();
      let bytes = 0, frames = 0, fps = 0, size = "", lost = 0, dropped = 0;
      report.forEach((entry) => {
        if (entry.type === "outbound-rtp" && entry.kind === "video") {
          bytes += entry.bytesSent ?? 0;
          frames += entry.framesEncoded ?? 0;
          fps = entry.framesPerSecond ?? fps;
          if (entry.frameWidth) size = `${entry.frameWidth}×${entry.frameHeight}`;
        }
        if (entry.type === "media-source" && entry.kind === "video") dropped = Math.max(0, (entry.frames ?? 0) - frames);
        if (entry.type === "remote-inbound-rtp" && entry.kind === "video") lost += entry.packetsLost ?? 0;
      });
      const now = Date.now();
      const before = last.current;
      last.current = { at: now, bytes, frames };
      const kbps = before ? Math.round(((bytes - before.bytes) * 8) / (now - before.at)) : 0;
      setFigures({ kbps, fps: Math.round(fps), size, dropped, lost, state: peer.connectionState });
    };
    void measure();
    const timer = setInterval(() => void measure(), 2000);
    return () => clearInterval(timer);
  }, [peer]);
  if (figures === null) return null;
  const good = figures.state === "connected" && figures.kbps > 0;
  return (
    <div class={`health ${good ? "good" : "poor"}`} aria-label="Stream health" data-testid="health">
      <span class="health-dot" aria-hidden="true" />
      <span><b>{figures.state}</b></span>
      <span><b>{figures.kbps}</b> kbit/s</span>
      <span><b>{figures.fps}</b> fps</span>
      {figures.size && <span>{figures.size}</span>}
      <span><b>{figures.dropped}</b> dropped</span>
      <span><b>{figures.lost}</b> lost</span>
    </div>
  );
}
