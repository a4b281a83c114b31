import { ApiError, type Json } from "livefold-sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { count } from "../format";
import { type Key, t } from "../i18n";
import { live, session, signIn } from "../live";

// livefold's default reaction kinds (settings.reaction_kinds), with how they look.
export const KINDS: [kind: string, emoji: string, label: Key][] = [
  ["heart", "❤️", "reactions.heart"],
  ["fire", "🔥", "reactions.fire"],
  ["laugh", "😂", "reactions.laugh"],
  ["clap", "👏", "reactions.clap"],
  ["wow", "😮", "reactions.wow"],
  ["hype", "🚀", "reactions.hype"],
];
const EMOJI = Object.fromEntries(KINDS.map(([kind, emoji]) => [kind, emoji]));
const MOST_AT_ONCE = 24; // bursts on screen; a flood of reactions shows as this many

export function Reactions({ streamId, view }: { streamId: string; view: Json | null }) {
  const totals = (view?.totals ?? {}) as Record<string, number>;
  const [problem, setProblem] = useState<string | null>(null);
  const react = async (kind: string) => {
    if (session === null) return void signIn();
    try {
      await live().react(streamId, kind);
      setProblem(null);
    } catch (error) {
      setProblem(error instanceof ApiError ? error.reason || error.message : String(error));
    }
  };
  return (
    <div class="reactions" role="group" aria-label={t("reactions.label")}>
      {KINDS.map(([kind, emoji, label]) => (
        <button class="reaction" data-kind={kind} aria-label={`${t(label)}: ${totals[kind] ?? 0}`} onClick={() => void react(kind)}>
          <span class="emoji" aria-hidden="true">{emoji}</span>
          <span class="reaction-count">{count(totals[kind] ?? 0)}</span>
        </button>
      ))}
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
    </div>
  );
}

interface Burst {
  id: number;
  emoji: string;
  left: number;
}

/** Reactions rising over the video as the live totals grow (everyone's, aggregated). */
export function Bursts({ view }: { view: Json | null }) {
  const last = useRef<Record<string, number> | null>(null);
  const next = useRef(0);
  const [bursts, setBursts] = useState<Burst[]>([]);
  useEffect(() => {
    const totals = (view?.totals ?? {}) as Record<string, number>;
    const before = last.current;
    last.current = { ...totals };
    if (before === null || matchMedia("(prefers-reduced-motion: reduce)").matches) return;
    const fresh: Burst[] = [];
    for (const [kind, total] of Object.entries(totals)) {
      const grown = Math.min(6, total - (before[kind] ?? 0));
      for (let index = 0; index < grown; index++) fresh.push({ id: next.current++, emoji: EMOJI[kind] ?? "✨", left: 55 + Math.random() * 38 });
    }
    if (fresh.length) setBursts((now) => [...now, ...fresh].slice(-MOST_AT_ONCE));
  }, [view]);
  return (
    <div class="bursts" aria-hidden="true">
      {bursts.map((burst) => (
        <span key={burst.id} class="burst emoji" style={{ left: `${burst.left}%` }} onAnimationEnd={() => setBursts((now) => now.filter((one) => one.id !== burst.id))}>
          {burst.emoji}
        </span>
      ))}
    </div>
  );
}
