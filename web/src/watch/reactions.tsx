import { ApiError, type Json } from "livefold-sdk";
import { useState } from "preact/hooks";
import { count } from "../format";
import { live, session, signIn } from "../live";

// livefold's default reaction kinds (settings.reaction_kinds), with how they look.
const KINDS: [kind: string, emoji: string, label: string][] = [
  ["heart", "❤️", "Love"],
  ["fire", "🔥", "Fire"],
  ["laugh", "😂", "Laugh"],
  ["clap", "👏", "Clap"],
  ["wow", "😮", "Wow"],
  ["hype", "🚀", "Hype"],
];

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
    <div class="reactions" role="group" aria-label="Reactions">
      {KINDS.map(([kind, emoji, label]) => (
        <button class="reaction" data-kind={kind} aria-label={`${label}: ${totals[kind] ?? 0}`} onClick={() => void react(kind)}>
          <span class="emoji" aria-hidden="true">{emoji}</span>
          <span class="reaction-count">{count(totals[kind] ?? 0)}</span>
        </button>
      ))}
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
    </div>
  );
}
