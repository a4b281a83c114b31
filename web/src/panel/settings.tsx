// A stream's title, category, tags and schedule: the form that creates a stream (with an
// optional start time: a scheduled stream) and the settings tab that changes them.

import type { Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { api } from "../live";
import { Said, useAction } from "./act";
import type { TabProps } from "./studio";

export const CATEGORIES = ["Games", "Music", "Art", "Software", "Talk", "Sports", "Education", "Science"];

const tagsOf = (text: string) => [...new Set(text.split(",").map((tag) => tag.trim()).filter(Boolean))].slice(0, 10);

function localTime(epochMs: number): string {
  const at = new Date(epochMs - new Date(epochMs).getTimezoneOffset() * 60_000);
  return at.toISOString().slice(0, 16);
}

interface FormProps {
  submit: string;
  busy: boolean;
  initial?: Json | null;
  schedule?: boolean;
  onSubmit: (fields: Json) => void;
}

export function StreamForm({ submit, busy, initial = null, schedule = true, onSubmit }: FormProps) {
  const [title, setTitle] = useState(String(initial?.title ?? ""));
  const [category, setCategory] = useState(String(initial?.category ?? CATEGORIES[0]));
  const [tags, setTags] = useState(((initial?.tags as string[] | undefined) ?? []).join(", "));
  const [start, setStart] = useState("");
  useEffect(() => {
    if (initial === null) return;
    setTitle(String(initial.title ?? ""));
    setCategory(String(initial.category ?? CATEGORIES[0]));
    setTags(((initial.tags as string[] | undefined) ?? []).join(", "));
  }, [initial?.title, initial?.category, JSON.stringify(initial?.tags ?? [])]);
  const send = (event: Event) => {
    event.preventDefault();
    const fields: Json = { title: title.trim(), category: category.trim(), tags: tagsOf(tags) };
    if (schedule && start) fields.scheduled_start = new Date(start).getTime();
    onSubmit(fields);
  };
  return (
    <form class="form" onSubmit={send}>
      <label class="field">
        <span>Title</span>
        <input name="title" required maxLength={140} value={title} onInput={(event) => setTitle(event.currentTarget.value)} placeholder="What are you streaming?" />
      </label>
      <div class="row">
        <label class="field">
          <span>Category</span>
          <input name="category" list="categories" required maxLength={60} value={category} onInput={(event) => setCategory(event.currentTarget.value)} />
          <datalist id="categories">{CATEGORIES.map((name) => <option value={name} />)}</datalist>
        </label>
        <label class="field">
          <span>Tags <small class="muted">(comma separated)</small></span>
          <input name="tags" value={tags} onInput={(event) => setTags(event.currentTarget.value)} placeholder="speedrun, english" />
        </label>
      </div>
      {schedule && (
        <label class="field">
          <span>Starts at <small class="muted">(leave empty to start when you go live)</small></span>
          <input name="scheduled_start" type="datetime-local" value={start} min={localTime(Date.now())} onInput={(event) => setStart(event.currentTarget.value)} />
        </label>
      )}
      <div class="actions">
        <button class="button primary" type="submit" disabled={busy || !title.trim()}>{submit}</button>
      </div>
    </form>
  );
}

export function StreamSettings({ streamId, views }: TabProps) {
  const save = useAction();
  const stream = views.stream;
  const scheduled = stream?.scheduled_start ? new Date(Number(stream.scheduled_start)) : null;
  return (
    <div class="panes">
      <section class="pane" aria-label="Stream settings">
        <h2>Stream settings</h2>
        <p class="muted small">Viewers see changes at once, on the stream page and in discover.</p>
        <StreamForm
          submit="Save settings"
          busy={save.busy}
          initial={stream}
          schedule={false}
          onSubmit={(fields) => void save.run(() => api.changeStream(streamId, fields), "Saved.")}
        />
        <Said action={save} />
      </section>
      <section class="pane" aria-label="Schedule">
        <h2>Schedule</h2>
        {scheduled !== null ? (
          <p>Scheduled for <b>{scheduled.toLocaleString()}</b>; it shows under Upcoming until you go live.</p>
        ) : (
          <p class="muted">Not scheduled: the stream starts when you go live. Schedule a stream when you create it.</p>
        )}
        <p class="muted small">Status: {String(stream?.status ?? "…")}</p>
      </section>
    </div>
  );
}
