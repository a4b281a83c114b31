// Recordings (VODs) and clips of the stream, live from the `media` channel.

import type { Json } from "livefold-sdk";
import { handle } from "../format";
import type { TabProps } from "./studio";

const duration = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}`;

function Item({ item, kind }: { item: Json; kind: "vod" | "clip" }) {
  const length = Number(item.duration_ms ?? (Number(item.end_ms ?? 0) - Number(item.start_ms ?? 0)));
  return (
    <li class="record" data-media={kind}>
      <div class="record-head">
        <b class="grow">{String(item.title ?? (kind === "vod" ? "Recording" : "Clip"))}</b>
        {length > 0 && <span class="badge">{duration(length)}</span>}
      </div>
      <p class="muted small">
        {new Date(Number(item.at)).toLocaleString()}
        {kind === "clip" ? ` · by ${handle(String(item.by ?? ""))}` : ""}
      </p>
    </li>
  );
}

export function Media({ views, streamId }: TabProps) {
  const items = Object.entries(views.media).sort(([, a], [, b]) => Number(b.at) - Number(a.at));
  const vods = items.filter(([key]) => key.startsWith(`${streamId}/vod/`)).map(([, item]) => item);
  const clips = items.filter(([key]) => key.startsWith(`${streamId}/clip/`)).map(([, item]) => item);
  return (
    <div class="panes">
      <section class="pane" aria-label="Recordings">
        <h2>Recordings</h2>
        <ul class="records">
          {vods.length === 0 && <li class="muted small">A recording appears here when a broadcast ends.</li>}
          {vods.map((item) => <Item item={item} kind="vod" />)}
        </ul>
      </section>
      <section class="pane" aria-label="Clips">
        <h2>Clips</h2>
        <ul class="records">
          {clips.length === 0 && <li class="muted small">Clips your viewers cut appear here.</li>}
          {clips.map((item) => <Item item={item} kind="clip" />)}
        </ul>
      </section>
    </div>
  );
}
