// The streamer's control panel: /studio lists your streams and makes new ones; /studio/<id>/<tab>
// runs one stream (going live, settings, chat and moderation, polls and quizzes, tips, guests,
// recordings, analytics, overlays). Its own chunk (main.tsx loads it lazily).

import "./panel.css";
import type { Json } from "livefold-sdk";
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { count } from "../format";
import { api, session, signIn, whoAmI, type Me } from "../live";
import { useNames } from "../names";
import { go } from "../router";
import { Said, useAction } from "./act";
import { Analytics } from "./analytics";
import { ChatDesk } from "./chatdesk";
import { Guests } from "./guests";
import { Interact } from "./interact";
import { GoLive } from "./golive";
import { Media } from "./media";
import { OverlayDesk } from "./overlaydesk";
import { Rules } from "./rules";
import { StreamSettings, StreamForm } from "./settings";
import { type StudioViews, useStudio } from "./state";
import { Tips } from "./tips";

export interface TabProps {
  streamId: string;
  views: StudioViews;
  me: Me;
}

const TABS: [id: string, label: string, component: ComponentType<TabProps>][] = [
  ["live", "Go live", GoLive],
  ["settings", "Settings", StreamSettings],
  ["chat", "Chat & review", ChatDesk],
  ["rules", "Rules & team", Rules],
  ["interact", "Polls & quizzes", Interact],
  ["tips", "Tips", Tips],
  ["guests", "Guests", Guests],
  ["media", "Recordings", Media],
  ["analytics", "Analytics", Analytics],
  ["overlays", "Overlays", OverlayDesk],
];

function useMe(): Me | null | undefined {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  useEffect(() => void whoAmI().then(setMe), []);
  return me;
}

export function Studio({ streamId, tab }: { streamId: string | null; tab: string | null }) {
  const me = useMe();
  useNames(); // every tab shows people by name: render again when names arrive
  if (session === null || me === null) {
    return (
      <main class="notice">
        <p>The studio is for streamers: sign in first.</p>
        <p><button class="button primary" onClick={() => void signIn()}>Sign in</button></p>
      </main>
    );
  }
  if (me === undefined) return <main class="notice"><p class="muted">Loading…</p></main>;
  return streamId === null ? <MyStreams me={me} /> : <Desk streamId={streamId} tab={tab ?? "live"} me={me} />;
}

function StatusBadge({ status }: { status: unknown }) {
  const text = String(status ?? "…");
  return <span class={`badge status-${text}`}>{text === "live" ? "LIVE" : text.toUpperCase()}</span>;
}

function MyStreams({ me }: { me: Me }) {
  const [streams, setStreams] = useState<Json[] | null>(null);
  const create = useAction();
  useEffect(() => {
    api.listStreams({ streamer: me.userId, limit: 100 }).then(
      (page) => setStreams(page.items),
      () => setStreams([]),
    );
  }, [me.userId]);
  const made = async (fields: Json) => {
    const answer = await create.run(() => api.createStream(fields as { title: string; category: string }));
    if (answer) go(`/studio/${encodeURIComponent(answer.stream_id)}/live`);
  };
  return (
    <main class="studio-home">
      <section class="pane">
        <h1>Your streams</h1>
        {streams === null ? <p class="muted">Loading…</p> : streams.length === 0 ? <p class="muted">No streams yet: make your first one.</p> : (
          <ul class="stream-list">
            {streams.map((stream) => (
              <li>
                <a href={`/studio/${encodeURIComponent(String(stream.stream_id))}/live`} data-stream={String(stream.stream_id)}>
                  <StatusBadge status={stream.status} />
                  <span class="stream-list-title">{String(stream.title)}</span>
                  <span class="muted">{String(stream.category)}</span>
                </a>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="pane" aria-label="New stream">
        <h2>New stream</h2>
        {!me.roles.some((role) => role === "streamer" || role === "admin") && (
          <p class="muted small">Streaming needs the streamer role: ask an admin of this livefold.</p>
        )}
        <StreamForm submit="Create stream" onSubmit={made} busy={create.busy} />
        <Said action={create} />
      </section>
    </main>
  );
}

function Desk({ streamId, tab, me }: { streamId: string; tab: string; me: Me }) {
  const views = useStudio(streamId);
  const [missing, setMissing] = useState<string | null>(null);
  useEffect(() => {
    api.stream(streamId).catch((error) => setMissing(error.status === 404 ? "This stream does not exist." : String(error.message ?? error)));
  }, [streamId]);
  if (missing !== null) return <main class="notice"><p role="alert">{missing}</p><p><a href="/studio">Your streams</a></p></main>;
  const stream = views.stream;
  const [, , Tab] = TABS.find(([id]) => id === tab) ?? TABS[0]!;
  const base = `/studio/${encodeURIComponent(streamId)}`;
  return (
    <div class="studio">
      <header class="studio-head">
        <div class="studio-title">
          <StatusBadge status={stream?.status} />
          <h1>{String(stream?.title ?? "…")}</h1>
        </div>
        <div class="studio-figures" aria-label="Right now">
          <span><b data-testid="viewers-now">{count(views.viewers ?? 0)}</b> watching</span>
          <span><b>{count(Number(stream?.peak_viewers ?? 0))}</b> peak</span>
          <span><b>{views.queue.length}</b> to review</span>
        </div>
        <a class="button ghost" href={`/watch/${encodeURIComponent(streamId)}`}>View as viewer</a>
      </header>
      <nav class="studio-tabs" aria-label="Control panel">
        {TABS.map(([id, label]) => (
          <a href={`${base}/${id}`} aria-current={id === tab ? "page" : undefined} data-tab={id}>
            {label}
            {id === "chat" && views.queue.length > 0 && <span class="pill">{views.queue.length}</span>}
          </a>
        ))}
      </nav>
      <main class="studio-body">
        <Tab streamId={streamId} views={views} me={me} />
      </main>
    </div>
  );
}
