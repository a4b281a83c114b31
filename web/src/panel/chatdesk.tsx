// Chat as its moderators see it: every line with its actions (pin, delete, time out, ban, invite
// on stage, make moderator), the pinned message, a send box; and the review queue (messages
// moderation held or viewers flagged) with approve and reject.

import type { Json } from "livefold-sdk";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { handle, hue } from "../format";
import { api, live } from "../live";
import { Said, useAction } from "./act";
import type { TabProps } from "./studio";

const TIMEOUTS: [label: string, seconds: number][] = [["1 min", 60], ["10 min", 600], ["1 h", 3600]];

function Line({ streamId, message, mine, act }: { streamId: string; message: Json; mine: boolean; act: ReturnType<typeof useAction> }) {
  const author = String(message.author ?? "");
  const id = String(message.message_id);
  const [menu, setMenu] = useState(false);
  const who = handle(author);
  return (
    <li class="mod-line" data-message={id}>
      <div class="mod-text">
        <span class="author" style={{ "--hue": hue(author) }}>{who}</span>
        <span class="text">{String(message.text ?? "")}</span>
      </div>
      <div class="mod-actions" role="group" aria-label={`Actions on ${who}'s message`}>
        <button class="icon" title="Pin" aria-label="Pin" onClick={() => void act.run(() => api.pinMessage(streamId, id), "Pinned.")}>📌</button>
        <button class="icon" title="Delete" aria-label="Delete" onClick={() => void act.run(() => api.deleteChat(streamId, id), "Deleted.")}>🗑</button>
        {!mine && (
          <>
            <button class="icon" title="Time out" aria-label="Time out" aria-expanded={menu} onClick={() => setMenu(!menu)}>⏱</button>
            <button class="icon danger" title="Ban" aria-label="Ban" onClick={() => void act.run(() => api.ban(streamId, author, "banned from chat"), `${who} is banned.`)}>⛔</button>
          </>
        )}
      </div>
      {menu && (
        <div class="mod-menu" role="group" aria-label="Time out for">
          {TIMEOUTS.map(([label, seconds]) => (
            <button class="button small" onClick={() => (setMenu(false), void act.run(() => api.timeOut(streamId, author, Date.now() + seconds * 1000), `${who} is timed out for ${label}.`))}>
              {label}
            </button>
          ))}
          <button class="button small" onClick={() => (setMenu(false), void act.run(() => api.inviteGuest(streamId, author), `${who} is invited on stage.`))}>Invite on stage</button>
          <button class="button small" onClick={() => (setMenu(false), void act.run(() => api.appointModerator(streamId, author), `${who} is a moderator now.`))}>Make moderator</button>
        </div>
      )}
    </li>
  );
}

function Review({ streamId, queue }: { streamId: string; queue: Json[] }) {
  const act = useAction();
  return (
    <section class="pane review" aria-label="Review queue">
      <h2>Review queue {queue.length > 0 && <span class="pill">{queue.length}</span>}</h2>
      <p class="muted small">Held by moderation or flagged by viewers: approve to show it in chat, reject to drop it.</p>
      {queue.length === 0 ? <p class="muted empty">Nothing to review.</p> : (
        <ul class="queue">
          {queue.map((item) => {
            const id = String(item.message_id);
            const author = String(item.author ?? item.user_id ?? "");
            return (
              <li class="queue-item" data-held={id}>
                <div>
                  <span class="author" style={{ "--hue": hue(author) }}>{handle(author)}</span>
                  <span class="text">{item.text === null ? <i class="muted">(erased)</i> : String(item.text ?? "")}</span>
                </div>
                <p class="muted small">
                  {item.held ? `held: ${String(item.rule ?? "rule")}` : "flagged"}
                  {typeof item.score === "number" ? ` · score ${(item.score as number).toFixed(2)}` : ""}
                  {Array.isArray(item.flags) && item.flags.length > 0 ? ` · ${item.flags.length} flag${item.flags.length === 1 ? "" : "s"}` : ""}
                </p>
                <div class="actions">
                  <button class="button primary small" onClick={() => void act.run(() => api.approveMessage(streamId, id), "Approved: it is in chat.")}>Approve</button>
                  <button class="button small" onClick={() => void act.run(() => api.rejectMessage(streamId, id), "Rejected.")}>Reject</button>
                  <button class="button small danger" onClick={() => void act.run(() => api.rejectMessage(streamId, id, { ban_author: true }), "Rejected and banned.")}>Reject & ban</button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <Said action={act} />
    </section>
  );
}

export function ChatDesk({ streamId, views, me }: TabProps) {
  const act = useAction();
  const list = useRef<HTMLOListElement>(null);
  const [draft, setDraft] = useState("");
  useLayoutEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [views.messages]);
  const pinned = views.pinned;
  const send = async (event: Event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setDraft("");
    await act.run(() => live().sendChat(streamId, text));
  };
  return (
    <div class="panes chatdesk">
      <section class="pane chat-pane" aria-label="Chat">
        <h2>Chat</h2>
        {pinned && (
          <div class="pinned">
            <span aria-hidden="true">📌</span>
            <span><b>{handle(String(pinned.author ?? ""))}</b> {String(pinned.text ?? "")}</span>
            <button class="button small" onClick={() => void act.run(() => api.unpinMessage(streamId, String(pinned.message_id)), "Unpinned.")}>Unpin</button>
          </div>
        )}
        <ol class="mod-lines" ref={list} aria-live="polite">
          {views.messages.length === 0 && <li class="muted empty">No messages yet.</li>}
          {views.messages.map((message) => (
            <Line key={String(message.message_id)} streamId={streamId} message={message} mine={message.author === me.userId} act={act} />
          ))}
        </ol>
        <Said action={act} />
        <form class="compose" onSubmit={send}>
          <input aria-label="Send a message" placeholder="Say something to chat" maxLength={500} value={draft} onInput={(event) => setDraft(event.currentTarget.value)} />
          <button class="button primary" type="submit" disabled={!draft.trim()}>Chat</button>
        </form>
      </section>
      <Review streamId={streamId} queue={views.queue} />
    </div>
  );
}
