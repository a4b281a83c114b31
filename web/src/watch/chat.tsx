// The live chat: a windowed list (earlier history loads on scrolling up), names instead of ids,
// streamer and moderator badges, replies, mentions, emotes, the pinned message, reporting a
// message, and what became of your own messages (held for review, blocked and why).

import { ApiError, type FlagReason, type Json } from "livefold-sdk";
import { useEffect, useMemo, useState } from "preact/hooks";
import { hue } from "../format";
import { type Key, t } from "../i18n";
import { api, live, type Me, session, signIn, whoAmI } from "../live";
import type { Refused } from "./refused";
import { nameOf, useNames } from "../names";
import { EMOTES, emotesIn, MessageText, mentions } from "./message-text";
import { VirtualList } from "./virtual-list";

/** What moderation did with one of your messages (the `held` and `rejected` frames). */
export interface Feedback {
  status: "held" | "blocked";
  reason: string;
}

interface Props {
  streamId: string;
  messages: Json[];
  pinned: Json | null;
  streamer: string;
  moderators: string[];
  feedback: Record<string, Feedback>;
  refused: Refused | null;
  hasOlder: boolean;
  beginning: boolean; // without older: the first message held is the stream's first
  loadOlder: () => void;
}

const REASONS: [FlagReason, Key][] = [
  ["spam", "chat.reason.spam"],
  ["harassment", "chat.reason.harassment"],
  ["hate", "chat.reason.hate"],
  ["other", "chat.reason.other"],
];

function problemOf(error: unknown): string {
  return error instanceof ApiError ? error.reason || error.message : String(error);
}

function Badges({ author, streamer, moderators }: { author: string; streamer: string; moderators: string[] }) {
  if (author === streamer && author) return <span class="chat-badge streamer" title={t("badge.streamer")}>{t("badge.streamer")}</span>;
  if (moderators.includes(author)) return <span class="chat-badge moderator" title={t("badge.moderator")}>{t("badge.moderator")}</span>;
  return null;
}

export function Chat({ streamId, messages, pinned, streamer, moderators, feedback, refused, hasOlder, beginning, loadOlder }: Props) {
  useNames();
  const [draft, setDraft] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  const [replyTo, setReplyTo] = useState<Json | null>(null);
  const [open, setOpen] = useState<string | null>(null); // the message whose actions show
  const [reporting, setReporting] = useState<string | null>(null);
  const [sent, setSent] = useState<Record<string, Json>>({}); // your messages, by id
  const [following, setFollowing] = useState(true);
  const [jump, setJump] = useState(0);
  const [emotesOpen, setEmotesOpen] = useState(false);
  useEffect(() => setProblem(refused?.reason ?? null), [refused]);
  useEffect(() => void whoAmI().then(setMe), []);
  const myUsername = me?.username ?? null;

  const byId = useMemo(() => new Map(messages.map((message) => [String(message.message_id), message])), [messages]);
  // Your own held or blocked messages show to you, in place, with what happened to them.
  const rows = useMemo(() => {
    const yours = Object.entries(feedback)
      .filter(([id]) => !byId.has(id) && sent[id])
      .map(([id, outcome]): Json => ({ ...sent[id]!, message_id: id, outcome }));
    return yours.length ? [...messages, ...yours].sort((a, b) => Number(a.at) - Number(b.at)) : messages;
  }, [messages, feedback, sent, byId]);

  const send = async (event: Event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setDraft("");
    const replying = replyTo;
    setReplyTo(null);
    try {
      const options: { replyTo?: string; emotes: Json[] } = { emotes: emotesIn(text) };
      if (replying) options.replyTo = String(replying.message_id);
      const accepted = await live().sendChat(streamId, text, options);
      const id = String(accepted.message_id ?? accepted.event_id);
      setSent((now) => ({ ...now, [id]: { message_id: id, author: me?.userId ?? "", text, at: Date.now(), reply_to: options.replyTo ?? null, emotes: options.emotes } }));
      setProblem(null);
      setJump((count) => count + 1);
    } catch (error) {
      setDraft(text);
      setReplyTo(replying);
      setProblem(problemOf(error));
    }
  };

  const report = async (messageId: string, reason: FlagReason) => {
    setReporting(null);
    setOpen(null);
    if (session === null) return void signIn();
    try {
      await api.flagMessage(streamId, messageId, reason);
      setNotice(t("chat.reported"));
    } catch (error) {
      setProblem(problemOf(error));
    }
  };

  const line = (message: Json) => {
    const id = String(message.message_id);
    const author = String(message.author ?? "");
    const mine = me !== null && author === me.userId;
    const name = mine ? me.name : nameOf(author);
    const outcome = (message as { outcome?: Feedback }).outcome;
    const text = message.text === null ? "" : String(message.text ?? "");
    const mentioned = !mine && mentions(text, myUsername);
    const replied = message.reply_to ? byId.get(String(message.reply_to)) : undefined;
    const classes = ["line", mine && "mine", mentioned && "mentioned", outcome && `outcome ${outcome.status}`].filter(Boolean).join(" ");
    return (
      <div class={classes} data-message={id}>
        {message.reply_to && (
          <p class="reply-context">
            ↪ {replied ? <><b>{nameOf(String(replied.author))}</b> {String(replied.text ?? "").slice(0, 80)}</> : t("chat.reply")}
          </p>
        )}
        <div class="line-body">
          <Badges author={author} streamer={streamer} moderators={moderators} />
          <span class="author" style={{ "--hue": hue(author) }}>{name}</span>
          <MessageText message={message} myUsername={myUsername} />
          {!outcome && (
            <button
              class="line-more"
              aria-label={t("chat.messageActions", { name })}
              aria-expanded={open === id}
              onClick={() => setOpen(open === id ? null : id)}
            >
              ⋯
            </button>
          )}
        </div>
        {outcome && (
          <p class="outcome-note" role="status">
            {outcome.status === "held" ? t("chat.held") : t("chat.blocked", { reason: outcome.reason })}
          </p>
        )}
        {open === id && reporting !== id && (
          <div class="line-actions">
            <button class="chip" onClick={() => (setReplyTo(message), setOpen(null), document.getElementById("chat-input")?.focus())}>{t("chat.reply")}</button>
            {!mine && <button class="chip" onClick={() => setReporting(id)}>{t("chat.report")}</button>}
          </div>
        )}
        {reporting === id && (
          <div class="line-actions" role="group" aria-label={t("chat.reportWhy")}>
            <span class="muted small">{t("chat.reportWhy")}</span>
            {REASONS.map(([reason, label]) => (
              <button class="chip" onClick={() => void report(id, reason)}>{t(label)}</button>
            ))}
          </div>
        )}
      </div>
    );
  };

  const insertEmote = (name: string) => {
    setDraft((now) => `${now}${now && !now.endsWith(" ") ? " " : ""}${name} `);
    setEmotesOpen(false);
    document.getElementById("chat-input")?.focus();
  };

  return (
    <section class="chat" aria-label={t("chat.title")}>
      <h2 class="chat-title">{t("chat.title")}</h2>
      {pinned && (
        <div class="pinned" aria-label={t("chat.pinned")}>
          <span class="pin" aria-hidden="true">📌</span>
          <span>
            <b>{nameOf(String(pinned.author ?? ""))}</b> <MessageText message={pinned} myUsername={myUsername} />
          </span>
        </div>
      )}
      <div class="chat-list">
      <VirtualList
        items={rows}
        keyOf={(message) => String(message.message_id)}
        render={line}
        label={t("chat.title")}
        onTop={hasOlder ? loadOlder : undefined}
        onFollowing={setFollowing}
        jumpToEnd={jump}
        header={rows.length === 0 ? <p class="muted empty">{t("chat.welcome")}</p> : <p class="muted small history-edge">{hasOlder ? t("chat.earlier") : beginning ? t("chat.beginning") : t("chat.notKept")}</p>}
      />
      {!following && (
        <button class="chip new-messages" onClick={() => setJump((count) => count + 1)}>
          ↓ {t("chat.newMessages")}
        </button>
      )}
      </div>
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
      {notice !== null && <p class="notice-line" role="status" onClick={() => setNotice(null)}>{notice}</p>}
      {session === null ? (
        <div class="compose signed-out">
          <span class="muted">{t("chat.signInToChat")}</span>
          <button class="button primary" onClick={() => void signIn()}>{t("account.signIn")}</button>
        </div>
      ) : (
        <form class="compose" onSubmit={send}>
          {replyTo && (
            <p class="replying">
              {t("chat.replyTo", { name: nameOf(String(replyTo.author)) })}
              <button type="button" class="button ghost small" aria-label={t("chat.cancelReply")} onClick={() => setReplyTo(null)}>✕</button>
            </p>
          )}
          {emotesOpen && (
            <div class="emote-picker" role="group" aria-label={t("chat.emotes")}>
              {Object.entries(EMOTES).map(([name, picture]) => (
                <button type="button" class="emote-choice" aria-label={name} title={name} onClick={() => insertEmote(name)}>
                  <span class="emoji" aria-hidden="true">{picture}</span>
                </button>
              ))}
            </div>
          )}
          <div class="compose-row">
            <button type="button" class="button ghost emote-toggle" aria-label={t("chat.emotes")} aria-expanded={emotesOpen} onClick={() => setEmotesOpen(!emotesOpen)}>
              <span class="emoji" aria-hidden="true">😀</span>
            </button>
            <input
              id="chat-input"
              aria-label={t("chat.placeholder")}
              placeholder={t("chat.placeholder")}
              maxLength={500}
              value={draft}
              onInput={(event) => setDraft(event.currentTarget.value)}
            />
            <button class="button primary" type="submit" disabled={!draft.trim()}>{t("chat.send")}</button>
          </div>
        </form>
      )}
    </section>
  );
}


