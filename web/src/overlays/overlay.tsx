// Browser sources for OBS: /overlay/<stream id>/<kind>?config=... on a transparent page. Each
// kind follows the stream's public channels through the shared socket (web/src/live.ts):
// chat box (chat), tip and follow alerts with a chime (tips alerts; audience followed notices),
// live poll (polls), reaction rain (reactions), tip goal bar (tips totals).

import "./overlay.css";
import type { Frame, Json } from "livefold-sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { handle, hue } from "../format";
import { follow, notWatching } from "../live";
import { useNames } from "../names";
import { type Kind, KINDS, type OverlayConfig, decodeConfig } from "./config";

const EMOJI: Record<string, string> = { heart: "❤️", fire: "🔥", laugh: "😂", clap: "👏", wow: "😮", sad: "😢", hype: "🚀" };
const ALERT_MS = 6000;
// ?demo=1 (the panel's preview): sample content where the stream has none yet.
const DEMO = new URLSearchParams(location.search).has("demo");
const SAMPLE_CHAT: Json[] = [
  { message_id: "demo-1", author: "ember_fan", text: "that dragon skip was clean" },
  { message_id: "demo-2", author: "speedy", text: "PB pace!! 🔥" },
  { message_id: "demo-3", author: "lurker42", text: "first time here, this is great" },
];
const SAMPLE_POLL: Json = {
  poll_id: "demo", question: "Which boss next?", status: "open", voters: 42,
  options: [{ option_id: "1", text: "The Watcher", percent: 64 }, { option_id: "2", text: "Ember Queen", percent: 36 }],
};
const money = (minor: number, currency: string) => new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
notWatching(); // an overlay in OBS is no viewer of the stream (this chunk loads before it follows)

function useFrames(streamId: string, channels: string[], onFrame: (frame: Frame & { type: "snapshot" | "batch" }) => void): void {
  const handler = useRef(onFrame);
  handler.current = onFrame;
  useEffect(
    () =>
      follow(streamId, channels, (frame) => {
        if ((frame.type === "snapshot" || frame.type === "batch") && frame.stream === streamId) handler.current(frame);
      }),
    [streamId, channels.join()],
  );
}

const own = (frame: Frame & { type: "snapshot" | "batch" }) => frame.updates.filter((update) => update.key === frame.stream).at(-1)?.value;

/** A short two-note chime, made here (no sound file to fetch). */
function chime(): void {
  try {
    const audio = new AudioContext();
    [659.25, 987.77].forEach((frequency, index) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      tone.type = "sine";
      const at = audio.currentTime + index * 0.14;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.5);
      tone.connect(gain).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.55);
    });
  } catch {
    // no audio output: the alert still shows
  }
}

function ChatBox({ streamId }: { streamId: string }) {
  useNames();
  const [messages, setMessages] = useState<Json[]>([]);
  useFrames(streamId, ["chat"], (frame) => {
    setMessages((now) => {
      let next = frame.type === "snapshot" ? ((own(frame)?.messages as Json[] | undefined) ?? []) : now;
      for (const notice of frame.notices) {
        if (notice.kind === "message") next = [...next, notice.value];
        else next = next.filter((message) => message.message_id !== notice.value.message_id);
      }
      return next.slice(-12);
    });
  });
  return (
    <ol class="ov-chat" aria-live="polite">
      {(messages.length === 0 && DEMO ? SAMPLE_CHAT : messages).map((message) => (
        <li class="ov-line" key={String(message.message_id)}>
          <b style={{ color: `hsl(${hue(String(message.author))} 80% 72%)` }}>{handle(String(message.author))}</b> {String(message.text ?? "")}
        </li>
      ))}
    </ol>
  );
}

interface Alert {
  id: string;
  title: () => string; // at render: the tipper's name may arrive after the tip
  detail: () => string | null; // at render too: the follower count may come after the follow
}

function Alerts({ streamId, config }: { streamId: string; config: OverlayConfig }) {
  useNames();
  const [queue, setQueue] = useState<Alert[]>([]);
  const followers = useRef<number | null>(null);
  const [, setFollowers] = useState<number | null>(null); // re-renders the alert showing it
  useFrames(streamId, ["tips", "audience"], (frame) => {
    if (frame.channel === "audience" && (frame.type === "batch" || frame.type === "snapshot")) {
      const count = own(frame)?.new_followers;
      if (typeof count === "number") setFollowers((followers.current = count));
    }
    const fresh: Alert[] = [];
    if (frame.channel === "tips" && frame.type === "batch") {
      for (const notice of frame.notices.filter((one) => one.kind === "alert")) {
        const tip = notice.value;
        fresh.push({
          id: String(tip.tip_id),
          title: () => `${handle(String(tip.supporter))} tipped ${money(Number(tip.amount_minor), String(tip.currency))}`,
          detail: () => (tip.message ? String(tip.message) : null),
        });
      }
    }
    if (frame.channel === "audience" && frame.type === "batch") {
      for (const notice of frame.notices.filter((one) => one.kind === "followed")) {
        const follower = String(notice.value.follower);
        fresh.push({
          id: `follow-${follower}-${String(notice.value.followed_at)}`,
          title: () => `${handle(follower)} followed!`,
          detail: () => (followers.current === null ? null : `${followers.current} followed during this stream`),
        });
      }
    }
    if (fresh.length) setQueue((now) => [...now, ...fresh]);
  });
  const showing = queue[0] ?? null;
  useEffect(() => {
    if (!DEMO) return;
    const sample = () => setQueue((now) => (now.length ? now : [{ id: `demo-${Date.now()}`, title: () => "ember_fan tipped €5.00", detail: () => "for the dragon skip!" }]));
    sample();
    const timer = setInterval(sample, ALERT_MS + 2000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    if (showing === null) return;
    if (config.sound && !DEMO) chime();
    const timer = setTimeout(() => setQueue((now) => now.slice(1)), ALERT_MS);
    return () => clearTimeout(timer);
  }, [showing?.id]);
  if (showing === null) return null;
  return (
    <div class="ov-alert" role="alert" key={showing.id} data-alert={showing.id}>
      <span class="ov-alert-icon" aria-hidden="true">{showing.id.startsWith("follow-") ? "💜" : "💸"}</span>
      <p class="ov-alert-title">{showing.title()}</p>
      {showing.detail() && <p class="ov-alert-detail">{showing.detail()}</p>}
    </div>
  );
}

function Poll({ streamId }: { streamId: string }) {
  const [polls, setPolls] = useState<Record<string, Json>>({});
  useFrames(streamId, ["polls"], (frame) => {
    setPolls((now) => {
      const next = { ...now };
      for (const update of frame.updates) if (update.value.poll_id) next[String(update.value.poll_id)] = update.value;
      return next;
    });
  });
  const sorted = Object.values(polls).sort((a, b) => Number(b.opened_at ?? 0) - Number(a.opened_at ?? 0));
  const poll = sorted.find((one) => one.status === "open") ?? sorted[0] ?? (DEMO ? SAMPLE_POLL : undefined);
  if (!poll) return null;
  const options = (poll.options ?? []) as { option_id: string; text: string; votes: number; percent: number }[];
  return (
    <section class="ov-box ov-poll" data-poll={String(poll.poll_id)}>
      <p class="ov-kicker">{poll.status === "open" ? "Poll · vote in chat" : "Poll results"}</p>
      <h1>{String(poll.question)}</h1>
      <ul>
        {options.map((option) => (
          <li>
            <span class="ov-bar" style={{ width: `${option.percent}%` }} />
            <span class="ov-option">{option.text}</span>
            <b>{Math.round(option.percent)}%</b>
          </li>
        ))}
      </ul>
      <p class="ov-small">{Number(poll.voters ?? 0)} {Number(poll.voters) === 1 ? "vote" : "votes"}</p>
    </section>
  );
}

interface Drop {
  id: number;
  emoji: string;
  left: number;
  delay: number;
}

function ReactionRain({ streamId }: { streamId: string }) {
  const [drops, setDrops] = useState<Drop[]>([]);
  const seen = useRef<Record<string, number> | null>(null);
  const next = useRef(0);
  useFrames(streamId, ["reactions"], (frame) => {
    const totals = own(frame)?.totals as Record<string, number> | undefined;
    if (frame.type === "snapshot") {
      seen.current = { ...totals }; // what was sent before this page opened does not rain
      return;
    }
    if (!totals) return;
    const before = seen.current ?? {};
    seen.current = { ...totals };
    const fresh: Drop[] = [];
    for (const [kind, total] of Object.entries(totals)) {
      const more = Math.min(20, total - (before[kind] ?? 0));
      for (let index = 0; index < more; index += 1) {
        fresh.push({ id: next.current++, emoji: EMOJI[kind] ?? "✨", left: Math.random() * 92, delay: Math.random() * 0.8 });
      }
    }
    if (fresh.length) setDrops((now) => [...now, ...fresh].slice(-120));
  });
  useEffect(() => {
    if (!DEMO) return;
    const timer = setInterval(() => {
      const kinds = Object.values(EMOJI);
      const fresh = Array.from({ length: 4 }, () => ({ id: next.current++, emoji: kinds[Math.floor(Math.random() * kinds.length)]!, left: Math.random() * 92, delay: Math.random() }));
      setDrops((now) => [...now, ...fresh].slice(-60));
    }, 900);
    return () => clearInterval(timer);
  }, []);
  return (
    <div class="ov-rain" aria-hidden="true">
      {drops.map((drop) => (
        <span
          key={drop.id}
          class="ov-drop"
          style={{ left: `${drop.left}%`, animationDelay: `${drop.delay}s` }}
          onAnimationEnd={() => setDrops((now) => now.filter((one) => one.id !== drop.id))}
        >
          {drop.emoji}
        </span>
      ))}
    </div>
  );
}

function Goal({ streamId, config }: { streamId: string; config: OverlayConfig }) {
  const [net, setNet] = useState(0);
  useFrames(streamId, ["tips"], (frame) => {
    const totals = own(frame)?.totals as Record<string, { net: number }> | undefined;
    if (totals) setNet(Number(totals[config.goal_currency]?.net ?? 0));
  });
  const share = Math.min(100, (net / config.goal_minor) * 100);
  return (
    <section class="ov-box ov-goal" data-raised={net}>
      <div class="ov-goal-head">
        <b>{config.goal_title}</b>
        <span>{money(net, config.goal_currency)} / {money(config.goal_minor, config.goal_currency)}</span>
      </div>
      <div class="ov-goal-track"><span class="ov-goal-fill" style={{ width: `${share}%` }} /></div>
    </section>
  );
}

export function Overlay({ streamId, kind }: { streamId: string; kind: string }) {
  const config = decodeConfig(new URLSearchParams(location.search).get("config"));
  useEffect(() => {
    document.documentElement.classList.add("overlay-page"); // a transparent page for OBS
    return () => document.documentElement.classList.remove("overlay-page");
  }, []);
  if (!KINDS.includes(kind as Kind)) return <p class="ov-box">Unknown overlay “{kind}”: one of {KINDS.join(", ")}.</p>;
  const style = {
    "--ov-accent": config.accent,
    "--ov-text": config.text,
    "--ov-bg": config.background,
    "--ov-font": `"${config.font}", system-ui, sans-serif`,
    "--ov-size": `${config.size}px`,
  };
  return (
    <div class={`overlay-root pos-${config.position}`} style={style} data-overlay={kind}>
      {config.css && <style data-custom-css>{config.css}</style>}
      {kind === "chat" && <ChatBox streamId={streamId} />}
      {kind === "alerts" && <Alerts streamId={streamId} config={config} />}
      {kind === "poll" && <Poll streamId={streamId} />}
      {kind === "reactions" && <ReactionRain streamId={streamId} />}
      {kind === "goal" && <Goal streamId={streamId} config={config} />}
    </div>
  );
}
