import { ApiError, type Json } from "livefold-sdk";
import { useState } from "preact/hooks";
import { live, session, signIn } from "../live";

interface Option {
  option_id: string;
  text: string;
  votes: number;
  percent: number;
}

export function PollCard({ streamId, poll }: { streamId: string; poll: Json }) {
  const pollId = String(poll.poll_id);
  const open = poll.status === "open";
  const options = (poll.options ?? []) as Option[];
  const [chosen, setChosen] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
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
    <section class="poll" aria-label="Poll" data-poll={pollId}>
      <p class="poll-kind">{open ? "Poll · voting open" : "Poll · final results"}</p>
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
      <p class="muted small poll-votes">{voters} {voters === 1 ? "vote" : "votes"}</p>
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
    </section>
  );
}
