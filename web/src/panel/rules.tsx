// The stream's chat rules and team: blocked and allowed terms, automatic filters, chat modes,
// moderators, and who is banned or timed out (with undo). Current values come from the
// moderation channel (`<stream>/rules`, `/staff`, `/restrictions`).

import type { Json, TermMatch } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { handle } from "../format";
import { api } from "../live";
import { Said, useAction } from "./act";
import type { TabProps } from "./studio";

function Terms({ streamId, rules }: { streamId: string; rules: Json | null }) {
  const act = useAction();
  const [term, setTerm] = useState("");
  const [match, setMatch] = useState<TermMatch>("word");
  const blocked = Object.entries((rules?.blocked_terms ?? {}) as Record<string, string>);
  const allowed = (rules?.allowed_terms ?? []) as string[];
  const add = (event: Event) => {
    event.preventDefault();
    const text = term.trim();
    if (!text) return;
    void act.run(() => api.blockTerm(streamId, text, match), `“${text}” is blocked.`).then(() => setTerm(""));
  };
  return (
    <section class="pane" aria-label="Blocked terms">
      <h2>Blocked terms</h2>
      <p class="muted small">Messages with these are blocked before anyone sees them.</p>
      <form class="inline-form" onSubmit={add}>
        <input aria-label="Term to block" placeholder="word or phrase" maxLength={100} value={term} onInput={(event) => setTerm(event.currentTarget.value)} />
        <select aria-label="Match" value={match} onChange={(event) => setMatch(event.currentTarget.value as TermMatch)}>
          <option value="word">whole word</option>
          <option value="substring">anywhere</option>
          <option value="regex">pattern (RE2)</option>
        </select>
        <button class="button primary" type="submit" disabled={!term.trim() || act.busy}>Block</button>
      </form>
      <ul class="chips" aria-label="Blocked">
        {blocked.length === 0 && <li class="muted small">None yet.</li>}
        {blocked.map(([text, how]) => (
          <li class="chip" data-term={text}>
            <span>{text}</span> <small class="muted">{how}</small>
            <button class="chip-x" aria-label={`Unblock ${text}`} onClick={() => void act.run(() => api.unblockTerm(streamId, text))}>×</button>
          </li>
        ))}
      </ul>
      {allowed.length > 0 && (
        <>
          <h3>Always allowed</h3>
          <ul class="chips">
            {allowed.map((text) => (
              <li class="chip">
                <span>{text}</span>
                <button class="chip-x" aria-label={`Stop allowing ${text}`} onClick={() => void act.run(() => api.disallowTerm(streamId, text))}>×</button>
              </li>
            ))}
          </ul>
        </>
      )}
      <Said action={act} />
    </section>
  );
}

const LEVELS = ["off", "low", "medium", "high"];

function Filters({ streamId, rules }: { streamId: string; rules: Json | null }) {
  const act = useAction();
  const filters = (rules?.filters ?? {}) as Json;
  const modes = (rules?.chat_modes ?? {}) as Json;
  const [level, setLevel] = useState(String(filters.classifier_level ?? "medium"));
  const [links, setLinks] = useState(Boolean(filters.links_allowed ?? false));
  const [slow, setSlow] = useState(Number(modes.slow_seconds ?? 0));
  const [followers, setFollowers] = useState<number | null>((modes.followers_only_minutes as number | null | undefined) ?? null);
  const [emotes, setEmotes] = useState(Boolean(modes.emote_only ?? false));
  const [subscribers, setSubscribers] = useState(Boolean(modes.subscribers_only ?? false));
  useEffect(() => {
    setLevel(String(filters.classifier_level ?? "medium"));
    setLinks(Boolean(filters.links_allowed ?? false));
    setSlow(Number(modes.slow_seconds ?? 0));
    setFollowers((modes.followers_only_minutes as number | null | undefined) ?? null);
    setEmotes(Boolean(modes.emote_only ?? false));
    setSubscribers(Boolean(modes.subscribers_only ?? false));
  }, [rules]);
  const saveFilters = (event: Event) => {
    event.preventDefault();
    void act.run(() => api.changeFilters(streamId, { classifier_level: level, links_allowed: links }), "Filters saved.");
  };
  const saveModes = (event: Event) => {
    event.preventDefault();
    const chosen = { slow_seconds: slow, followers_only_minutes: followers, emote_only: emotes, subscribers_only: subscribers };
    void act.run(() => api.setChatModes(streamId, chosen), "Chat modes saved.");
  };
  return (
    <section class="pane" aria-label="Filters and chat modes">
      <h2>Filters</h2>
      <form class="form" onSubmit={saveFilters}>
        <div class="row">
          <label class="field">
            <span>Abuse filter</span>
            <select value={level} onChange={(event) => setLevel(event.currentTarget.value)}>
              {LEVELS.map((name) => <option value={name}>{name}</option>)}
            </select>
          </label>
          <label class="check">
            <input type="checkbox" checked={links} onChange={(event) => setLinks(event.currentTarget.checked)} />
            Links allowed
          </label>
        </div>
        <div class="actions"><button class="button" type="submit" disabled={act.busy}>Save filters</button></div>
      </form>
      <h2>Chat modes</h2>
      <form class="form" onSubmit={saveModes}>
        <div class="row">
          <label class="field">
            <span>Slow mode (seconds)</span>
            <input type="number" min={0} max={3600} value={slow} onInput={(event) => setSlow(Number(event.currentTarget.value))} />
          </label>
          <label class="field">
            <span>Followers only (minutes)</span>
            <input type="number" min={0} max={129600} placeholder="off" value={followers ?? ""} onInput={(event) => setFollowers(event.currentTarget.value === "" ? null : Number(event.currentTarget.value))} />
          </label>
        </div>
        <div class="row">
          <label class="check"><input type="checkbox" checked={emotes} onChange={(event) => setEmotes(event.currentTarget.checked)} /> Emote only</label>
          <label class="check"><input type="checkbox" checked={subscribers} onChange={(event) => setSubscribers(event.currentTarget.checked)} /> Subscribers only</label>
        </div>
        <div class="actions"><button class="button" type="submit" disabled={act.busy}>Save chat modes</button></div>
      </form>
      <Said action={act} />
    </section>
  );
}

function Team({ streamId, views, ownerId }: { streamId: string; views: TabProps["views"]; ownerId: string }) {
  const act = useAction();
  const [user, setUser] = useState("");
  const moderators = (views.staff?.moderators ?? []) as string[];
  const restricted = views.restrictions;
  const banned = (restricted?.banned ?? []) as string[];
  const timeouts = Object.entries((restricted?.timeouts ?? {}) as Record<string, number>).filter(([, until]) => until > Date.now());
  const appoint = (event: Event) => {
    event.preventDefault();
    const id = user.trim();
    if (id) void act.run(() => api.appointModerator(streamId, id), `${handle(id)} is a moderator.`).then(() => setUser(""));
  };
  const owner = views.stream?.streamer === ownerId;
  return (
    <section class="pane" aria-label="Team and bans">
      <h2>Moderators</h2>
      <ul class="people">
        {moderators.length === 0 && <li class="muted small">No moderators yet: appoint one here or from a chat line.</li>}
        {moderators.map((id) => (
          <li data-moderator={id}>
            <span>{handle(id)}</span>
            {owner && <button class="button small" onClick={() => void act.run(() => api.removeModerator(streamId, id))}>Remove</button>}
          </li>
        ))}
      </ul>
      {owner && (
        <form class="inline-form" onSubmit={appoint}>
          <input aria-label="User id" placeholder="user id" value={user} onInput={(event) => setUser(event.currentTarget.value)} />
          <button class="button" type="submit" disabled={!user.trim()}>Appoint</button>
        </form>
      )}
      <h2>Banned and timed out</h2>
      <ul class="people" aria-label="Banned">
        {banned.length + timeouts.length === 0 && <li class="muted small">Nobody.</li>}
        {banned.map((id) => (
          <li data-banned={id}>
            <span>{handle(id)}</span> <span class="badge">banned</span>
            <button class="button small" onClick={() => void act.run(() => api.unban(streamId, id), `${handle(id)} may chat again.`)}>Unban</button>
          </li>
        ))}
        {timeouts.map(([id, until]) => (
          <li>
            <span>{handle(id)}</span> <span class="badge">until {new Date(until).toLocaleTimeString()}</span>
            <button class="button small" onClick={() => void act.run(() => api.unban(streamId, id))}>Lift</button>
          </li>
        ))}
      </ul>
      <Said action={act} />
    </section>
  );
}

export function Rules({ streamId, views, me }: TabProps) {
  return (
    <div class="panes three">
      <Terms streamId={streamId} rules={views.rules} />
      <Filters streamId={streamId} rules={views.rules} />
      <Team streamId={streamId} views={views} ownerId={me.userId} />
    </div>
  );
}
