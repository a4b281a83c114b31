import { ApiError, type Json } from "livefold-sdk";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { handle, hue } from "../format";
import { live, type Me, session, signIn, whoAmI } from "../live";

function Line({ message, me }: { message: Json; me: Me | null }) {
  const author = String(message.author ?? "");
  const mine = me !== null && author === me.userId;
  return (
    <li class={mine ? "line mine" : "line"} data-message={String(message.message_id)}>
      <span class="author" style={{ "--hue": hue(author) }}>{mine ? me.name : handle(author)}</span>
      <span class="text">{String(message.text ?? "")}</span>
    </li>
  );
}

export function Chat({ streamId, messages, pinned, refused }: { streamId: string; messages: Json[]; pinned: Json | null; refused: string | null }) {
  const list = useRef<HTMLOListElement>(null);
  const following = useRef(true); // at the bottom: keep up with new messages
  const [draft, setDraft] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => setProblem(refused), [refused]);
  useEffect(() => void whoAmI().then(setMe), []);
  useLayoutEffect(() => {
    const element = list.current;
    if (element && following.current) element.scrollTop = element.scrollHeight;
  }, [messages]);
  const send = async (event: Event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setDraft("");
    try {
      await live().sendChat(streamId, text);
      setProblem(null);
    } catch (error) {
      setDraft(text);
      setProblem(error instanceof ApiError ? error.reason || error.message : String(error));
    }
  };
  return (
    <section class="chat" aria-label="Live chat">
      <h2 class="chat-title">Live chat</h2>
      {pinned && (
        <div class="pinned" aria-label="Pinned message">
          <span class="pin" aria-hidden="true">📌</span>
          <span><b>{handle(String(pinned.author ?? ""))}</b> {String(pinned.text ?? "")}</span>
        </div>
      )}
      <ol
        class="lines"
        ref={list}
        aria-live="polite"
        onScroll={(event) => {
          const element = event.currentTarget;
          following.current = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
        }}
      >
        {messages.length === 0 && <li class="muted empty">Welcome to the chat! Say hi.</li>}
        {messages.map((message) => <Line key={String(message.message_id)} message={message} me={me} />)}
      </ol>
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
      {session === null ? (
        <div class="compose signed-out">
          <span class="muted">Sign in to chat, react and vote.</span>
          <button class="button primary" onClick={() => void signIn()}>Sign in</button>
        </div>
      ) : (
        <form class="compose" onSubmit={send}>
          <input
            aria-label="Send a message"
            placeholder="Send a message"
            maxLength={500}
            value={draft}
            onInput={(event) => setDraft(event.currentTarget.value)}
          />
          <button class="button primary" type="submit" disabled={!draft.trim()}>Chat</button>
        </form>
      )}
    </section>
  );
}
