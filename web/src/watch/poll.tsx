import { ApiError, type Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { live, session, signIn } from "../live";
import type { Refused } from "./refused";

interface Option {
  option_id: string;
  text: string;
  votes: number;
  percent: number;
}

export function PollCard({ streamId, poll, refused }: { streamId: string; poll: Json; refused: Refused | null }) {
  const pollId = String(poll.poll_id);
  const open = poll.status === "open";
  const options = (poll.options ?? []) as Option[];
  const [chosen, setChosen] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => setProblem(refused?.reason ?? null), [refused]);
  const leader = Math.max(0, ...options.map((option) => option.votes));
  const vote = async (optionId: string) => {
    if (session === null) return void signIn();
    setChosen(optionId);
    try {
      await live().vote(streamId, pollId, optionId);
      setProblem(null);
    } catch (error) {
      setChosen(null);
      setProblem(error instanceof ApiError ? error.reason || error.message : String(error));
    }
  };
  const voters = Number(poll.voters ?? 0);
  return (
    <section class="poll" aria-label={t("poll.label")} data-poll={pollId}>
      <p class="poll-kind">{open ? t("poll.open") : t("poll.final")}</p>
      <h2 class="poll-question">{String(poll.question)}</h2>
      <ul class="poll-options">
        {options.map((option) => (
          <li>
            <button
              class={`poll-option${chosen === option.option_id ? " chosen" : ""}${!open && option.votes === leader && leader > 0 ? " winner" : ""}`}
              disabled={!open}
              aria-pressed={chosen === option.option_id}
              onClick={() => void vote(option.option_id)}
            >
              <span class="poll-bar" style={{ width: `${option.percent}%` }} aria-hidden="true" />
              <span class="poll-text">{option.text}</span>
              <span class="poll-percent">{Math.round(option.percent)}%</span>
            </button>
          </li>
        ))}
      </ul>
      <p class="muted small poll-votes">{voters === 1 ? t("poll.vote") : t("poll.votes", { count: voters })}</p>
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
    </section>
  );
}
