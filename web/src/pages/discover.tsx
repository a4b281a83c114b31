import type { Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { count, handle, hue, initial, since } from "../format";
import { t } from "../i18n";
import { LanguagePicker } from "../language";
import { api } from "../live";
import { useNames } from "../names";

const REFRESH_MS = 10_000;

function StreamCard({ stream }: { stream: Json }) {
  const id = String(stream.stream_id);
  const live = stream.status === "live";
  const tags = (stream.tags as string[] | undefined) ?? [];
  const streamer = String(stream.streamer ?? "");
  return (
    <a class="card" href={`/watch/${encodeURIComponent(id)}`} data-stream={id}>
      <div class="thumb" style={{ "--hue": hue(id) }}>
        {live ? <span class="badge live">{t("badge.live")}</span> : <span class="badge">{t("badge.upcoming")}</span>}
        {live && <span class="badge viewers">{t("discover.watching", { count: count(Number(stream.viewers ?? 0)) })}</span>}
      </div>
      <div class="card-body">
        <span class="avatar" style={{ "--hue": hue(streamer) }} aria-hidden="true">{initial(handle(streamer))}</span>
        <div>
          <h3 class="card-title">{String(stream.title)}</h3>
          <p class="muted">{handle(streamer)} · {String(stream.category)}{live && stream.live_at ? ` · ${since(Number(stream.live_at))}` : ""}</p>
          {tags.length > 0 && <p class="tags">{tags.slice(0, 3).map((tag) => <span class="tag">{tag}</span>)}</p>}
        </div>
      </div>
    </a>
  );
}

function Shelf({ title, streams, empty }: { title: string; streams: Json[] | null; empty: string }) {
  return (
    <section class="shelf" aria-label={title}>
      <h2>{title}</h2>
      {streams === null ? <p class="muted">{t("discover.loading")}</p> : streams.length === 0 ? <p class="muted empty">{empty}</p> : (
        <div class="grid">{streams.map((stream) => <StreamCard key={String(stream.stream_id)} stream={stream} />)}</div>
      )}
    </section>
  );
}

export function Discover() {
  useNames();
  const [live, setLive] = useState<Json[] | null>(null);
  const [upcoming, setUpcoming] = useState<Json[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const load = () => {
      api.listStreams({ status: "live", limit: 48 }).then((page) => {
        setLive([...page.items].sort((a, b) => Number(b.viewers ?? 0) - Number(a.viewers ?? 0)));
        setProblem(null);
      }, (error) => setProblem(String(error.message ?? error)));
      api.listStreams({ status: "scheduled", limit: 24 }).then((page) => setUpcoming(page.items), () => setUpcoming([]));
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  return (
    <main class="discover">
      {problem !== null && <p class="banner" role="alert">{t("app.offline", { problem })}</p>}
      <Shelf title={t("discover.live")} streams={live} empty={t("discover.nobodyLive")} />
      <Shelf title={t("discover.upcoming")} streams={upcoming} empty={t("discover.noneScheduled")} />
      <footer class="footer">
        <LanguagePicker />
      </footer>
    </main>
  );
}
