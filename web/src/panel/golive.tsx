// Going live: from this browser's camera over WHIP (device pickers, preview, the connection's
// own health figures), or from OBS or any encoder (RTMP or WHIP addresses and the stream key,
// with copy buttons and key rotation); live stats; ending the stream.

import { type MediaEndpoints, WhipPublisher } from "livefold-sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../live";
import { Said, useAction } from "./act";
import { Health, LiveStats } from "./stats";
import type { TabProps } from "./studio";

// The broadcast outlives the tab that started it (switching tabs must not cut the stream).
interface Broadcast {
  streamId: string;
  publisher: WhipPublisher;
  camera: MediaStream;
}
let broadcast: Broadcast | null = null;
let streamKey: string | null = null; // shown once by the gateway; kept in memory only
const changed = new Set<() => void>();
const tell = () => changed.forEach((listener) => listener());

function useShared(): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((tick) => tick + 1);
    changed.add(listener);
    return () => void changed.delete(listener);
  }, []);
}

async function newKey(): Promise<string> {
  streamKey = (await api.rotateStreamKey()).stream_key;
  tell();
  return streamKey;
}

function Copy({ label, value, secret = false }: { label: string; value: string; secret?: boolean }) {
  const [shown, setShown] = useState(!secret);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(value).catch(() => undefined);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <div class="copy-row">
      <span class="copy-label">{label}</span>
      <code class="copy-value" data-copy={label}>{shown ? value : "•".repeat(24)}</code>
      {secret && <button class="button small" type="button" onClick={() => setShown(!shown)}>{shown ? "Hide" : "Show"}</button>}
      <button class="button small" type="button" onClick={() => void copy()} aria-label={`Copy ${label}`}>{copied ? "Copied" : "Copy"}</button>
    </div>
  );
}

function Devices({ kind, value, onChange }: { kind: MediaDeviceKind; value: string; onChange: (id: string) => void }) {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    const list = () => navigator.mediaDevices?.enumerateDevices().then((all) => setDevices(all.filter((device) => device.kind === kind)));
    void list();
    navigator.mediaDevices?.addEventListener("devicechange", list);
    return () => navigator.mediaDevices?.removeEventListener("devicechange", list);
  }, [kind, value]);
  const label = kind === "videoinput" ? "Camera" : "Microphone";
  return (
    <label class="field">
      <span>{label}</span>
      <select value={value} onChange={(event) => onChange(event.currentTarget.value)} aria-label={label}>
        <option value="">Default {label.toLowerCase()}</option>
        {kind === "audioinput" && <option value="none">No sound</option>}
        {devices.map((device, index) => <option value={device.deviceId}>{device.label || `${label} ${index + 1}`}</option>)}
      </select>
    </label>
  );
}

function Camera({ streamId, endpoints, live }: { streamId: string; endpoints: MediaEndpoints | null; live: boolean }) {
  useShared();
  const preview = useRef<HTMLVideoElement>(null);
  const [camera, setCamera] = useState("");
  const [microphone, setMicrophone] = useState("");
  const [media, setMedia] = useState<MediaStream | null>(broadcast?.streamId === streamId ? broadcast.camera : null);
  const start = useAction();
  const mine = broadcast?.streamId === streamId ? broadcast : null;
  useEffect(() => {
    if (preview.current) preview.current.srcObject = media;
  }, [media]);
  const open = async () => {
    const video = camera ? { deviceId: { exact: camera } } : true;
    const audio = microphone === "none" ? false : microphone ? { deviceId: { exact: microphone } } : true;
    media?.getTracks().forEach((track) => track.stop());
    const opened = await navigator.mediaDevices.getUserMedia({ video, audio });
    setMedia(opened);
    return opened;
  };
  const goLive = () =>
    start.run(async () => {
      if (!endpoints) throw new Error("the media service's address is not known yet");
      const source = media ?? (await open());
      const key = streamKey ?? (await newKey());
      const publisher = await WhipPublisher.publish(endpoints.whip.replace("{stream_id}", encodeURIComponent(streamId)), key, source);
      broadcast = { streamId, publisher, camera: source };
      tell();
    }, "On air: the stream is live once the first second of video arrived.");
  const stop = () =>
    start.run(async () => {
      const ending = broadcast;
      broadcast = null;
      tell();
      await ending?.publisher.stop();
      ending?.camera.getTracks().forEach((track) => track.stop());
      setMedia(null);
    }, "Stopped publishing: the stream has ended.");
  return (
    <section class="pane" aria-label="Camera">
      <h2>Go live from this browser</h2>
      <div class="preview">
        <video ref={preview} autoPlay muted playsInline aria-label="Camera preview" />
        {media === null && <p class="muted">{live ? "Live from another device or encoder" : "Camera off"}</p>}
        {mine && <span class="badge live">ON AIR</span>}
      </div>
      <div class="row">
        <Devices kind="videoinput" value={camera} onChange={setCamera} />
        <Devices kind="audioinput" value={microphone} onChange={setMicrophone} />
      </div>
      <div class="actions">
        {!mine && <button class="button" type="button" onClick={() => void start.run(open)} disabled={start.busy}>{media ? "Switch devices" : "Preview camera"}</button>}
        {!mine ? (
          <button class="button primary" type="button" onClick={() => void goLive()} disabled={start.busy || (live && !mine)}>
            Go live with camera
          </button>
        ) : (
          <button class="button danger" type="button" onClick={() => void stop()} disabled={start.busy}>Stop and end stream</button>
        )}
      </div>
      <Said action={start} />
      {mine && <Health peer={mine.publisher.peer} />}
    </section>
  );
}

function Encoder({ streamId, endpoints }: { streamId: string; endpoints: MediaEndpoints | null }) {
  useShared();
  const rotate = useAction();
  return (
    <section class="pane" aria-label="Encoder">
      <h2>Stream from OBS or an encoder</h2>
      <p class="muted small">RTMP: Settings → Stream → Custom, or WHIP (OBS 30+) with the key as Bearer Token.</p>
      {endpoints && (
        <>
          <Copy label="RTMP server" value={endpoints.rtmp} />
          <Copy label="WHIP server" value={endpoints.whip.replace("{stream_id}", encodeURIComponent(streamId))} />
        </>
      )}
      {streamKey !== null ? (
        <Copy label="Stream key" value={streamKey} secret />
      ) : (
        <p class="muted small">Your stream key is shown once when made. Make a new one to see it; the old one stops working.</p>
      )}
      <div class="actions">
        <button class="button" type="button" disabled={rotate.busy} onClick={() => void rotate.run(newKey, "New key made: the previous one no longer works.")}>
          {streamKey === null ? "Show a new stream key" : "Rotate key"}
        </button>
      </div>
      <Said action={rotate} />
    </section>
  );
}

function Lifecycle({ streamId, status }: { streamId: string; status: string }) {
  useShared();
  const act = useAction();
  const end = () => {
    if (!confirm("End the stream for everyone? It cannot go live again.")) return;
    void act.run(async () => {
      if (broadcast?.streamId === streamId) {
        await broadcast.publisher.stop(); // the media service ends the stream
        broadcast.camera.getTracks().forEach((track) => track.stop());
        broadcast = null;
        tell();
      } else {
        await api.endStream(streamId);
      }
    }, "The stream has ended.");
  };
  return (
    <section class="pane" aria-label="Stream">
      <h2>Stream</h2>
      <p>Status: <b data-testid="stream-status">{status}</b></p>
      <div class="actions">
        {status === "scheduled" && (
          <button class="button" type="button" disabled={act.busy} onClick={() => void act.run(() => api.goLive(streamId), "Live without video: chat and polls are open.")}>
            Go live without video
          </button>
        )}
        {(status === "live" || status === "scheduled") && <button class="button danger" type="button" disabled={act.busy} onClick={end}>End stream</button>}
      </div>
      <Said action={act} />
    </section>
  );
}

export function GoLive({ streamId, views }: TabProps) {
  const [endpoints, setEndpoints] = useState<MediaEndpoints | null>(null);
  useEffect(() => void api.mediaEndpoints().then(setEndpoints, () => undefined), []);
  const status = String(views.stream?.status ?? "…");
  return (
    <div class="panes golive">
      <Camera streamId={streamId} endpoints={endpoints} live={status === "live"} />
      <div class="pane-column">
        <LiveStats views={views} />
        <Lifecycle streamId={streamId} status={status} />
        <Encoder streamId={streamId} endpoints={endpoints} />
      </div>
    </div>
  );
}
