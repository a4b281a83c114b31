// The live player: WHEP (WebRTC, about a second behind) when the media service offers the
// stream, else HLS (hls.js, loaded only then) with automatic quality
// (ABR) and a quality picker. It starts muted, as browsers allow autoplay only so; one tap
// unmutes. Where the media service is comes from the gateway (`/media-endpoints`).

import { type Json, type MediaEndpoints, WhepPlayer } from "livefold-sdk";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { api } from "../live";

let endpoints: Promise<Partial<MediaEndpoints>> | null = null;

function mediaEndpoints(): Promise<Partial<MediaEndpoints>> {
  endpoints ??= api.mediaEndpoints().catch(() => ((endpoints = null), {}));
  return endpoints;
}

export interface Level {
  index: number;
  label: string;
}

interface Playing {
  stop: () => void;
  levels: Level[];
  choose?: (index: number) => void;
}

async function playWhep(video: HTMLVideoElement, url: string): Promise<Playing> {
  const player = await WhepPlayer.watch(url);
  video.srcObject = player.media;
  return { stop: () => void player.stop(), levels: [] };
}

export async function playHls(video: HTMLVideoElement, url: string, onLevels: (levels: Level[]) => void): Promise<Playing> {
  // Where Media Source Extensions exist, hls.js plays (so the picker has the levels), even in a
  // browser that plays HLS itself (Safari, and Chromium 156 here); elsewhere (an iPhone before
  // iOS 17.1) the browser's own player, with automatic quality only.
  const mse = "MediaSource" in window || "ManagedMediaSource" in window;
  if (!mse && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    return { stop: () => video.removeAttribute("src"), levels: [] };
  }
  const { default: Hls } = await import("hls.js/light"); // no subtitles, DRM or alternate audio: a live ladder needs none
  if (!Hls.isSupported()) throw new Error("this browser cannot play HLS");
  const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
  hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
    const levels = data.levels.map((level, index) => ({ index, height: level.height, bitrate: level.bitrate }));
    levels.sort((a, b) => b.height - a.height || b.bitrate - a.bitrate); // the best first, as pickers list them
    onLevels(levels.map(({ index, height, bitrate }) => ({ index, label: height ? `${height}p` : `${Math.round(bitrate / 1000)} kb/s` })));
  });
  // A stream just gone live has no playlist for its first seconds (404), which hls.js does not
  // retry: ask again until the caller gives up waiting for a first frame.
  let again: ReturnType<typeof setTimeout> | undefined;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal && data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR) again = setTimeout(() => hls.loadSource(url), 1000);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  return {
    stop: () => (clearTimeout(again), hls.destroy()),
    levels: [],
    choose: (index) => {
      hls.currentLevel = index; // -1: automatic (ABR)
    },
  };
}

const FIRST_FRAME_MS = 25_000;
const RETRY_MS = 10_000;

/** Whether the video starts playing within FIRST_FRAME_MS. */
function firstFrame(video: HTMLVideoElement): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), FIRST_FRAME_MS);
    video.addEventListener("playing", () => (clearTimeout(timer), resolve(true)), { once: true });
  });
}

/** `children`: what lies over the picture (reaction bursts, the full-screen button). */
export function Player({ streamId, stream, children }: { streamId: string; stream: Json | null; children?: ComponentChildren }) {
  const status = String(stream?.status ?? "");
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<"idle" | "connecting" | "playing" | "none">("idle");
  const [muted, setMuted] = useState(true);
  const [levels, setLevels] = useState<Level[]>([]);
  const [level, setLevel] = useState(-1);
  const chooser = useRef<((index: number) => void) | undefined>(undefined);

  useEffect(() => {
    if (status !== "live" || !video.current) return;
    const element = video.current;
    let stopped = false;
    let playing: Playing | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    setState("connecting");
    void (async () => {
      const found = await mediaEndpoints();
      const attempts: (() => Promise<Playing>)[] = [];
      if (found.whep && "RTCPeerConnection" in window) attempts.push(() => playWhep(element, found.whep!.replace("{stream_id}", encodeURIComponent(streamId))));
      if (found.hls) attempts.push(() => playHls(element, found.hls!.replace("{stream_id}", encodeURIComponent(streamId)), setLevels));
      for (let round = 0; !stopped; round++) {
        if (round > 0) await new Promise((again) => (retry = setTimeout(again, RETRY_MS))); // an encoder may connect later
        for (const attempt of attempts) {
          if (stopped) return;
          try {
            playing = await attempt();
            if (stopped) return playing.stop();
            chooser.current = playing.choose;
            element.muted = true;
            const played = firstFrame(element);
            void element.play().catch(() => undefined); // pending until it plays, or for ever without data
            if (await played) return;
            playing.stop(); // answered, but no picture came (a live stream without video yet)
            playing = null;
            element.srcObject = null;
            setLevels([]);
          } catch (error) {
            console.info("player: trying the next way to watch", error);
          }
        }
        if (!stopped) setState("none");
      }
    })();
    const started = () => setState("playing");
    element.addEventListener("playing", started);
    return () => {
      stopped = true;
      clearTimeout(retry);
      element.removeEventListener("playing", started);
      playing?.stop();
      element.srcObject = null;
      setLevels([]);
      setState("idle");
    };
  }, [streamId, status]);

  const message = status === "ended" ? t("player.ended") : status === "live" ? (state === "connecting" ? t("player.connecting") : state === "none" ? t("player.noVideoTitle") : t("player.offline")) : t("player.waiting");
  return (
    <div class={`player ${state}`}>
      <video ref={video} class="video" playsInline muted={muted} autoPlay aria-label={t("player.video")} hidden={state !== "playing"} />
      {state !== "playing" && (
        <div class="player-idle" role="img" aria-label={message}>
          <span class={state === "connecting" ? "player-icon spinning" : "player-icon"} aria-hidden="true" />
          <p>{message}</p>
          {status === "live" && state === "none" && <p class="muted small">{t("player.noVideo")}</p>}
        </div>
      )}
      {status === "live" && <span class="badge live player-badge">{t("badge.live")}</span>}
      {children}
      {state === "playing" && (
        <div class="player-controls">
          <button class="player-button" aria-pressed={!muted} onClick={() => setMuted(!muted)}>
            <span class="emoji" aria-hidden="true">{muted ? "🔇" : "🔊"}</span> {muted ? t("player.unmute") : t("player.mute")}
          </button>
          {levels.length > 0 && (
            <label class="player-button quality">
              <span class="visually-hidden">{t("player.quality")}</span>
              <select
                value={level}
                onChange={(event) => {
                  const index = Number(event.currentTarget.value);
                  setLevel(index);
                  chooser.current?.(index);
                }}
              >
                <option value={-1}>{t("player.auto")}</option>
                {levels.map((one) => <option value={one.index}>{one.label}</option>)}
              </select>
            </label>
          )}
        </div>
      )}
    </div>
  );
}
