// Polls (create, open, close; live results) and quizzes (start, next question, reveal the
// answer; the leaderboard), from the `polls` and `quiz` channels.

import type { Json } from "livefold-sdk";
import { useState } from "preact/hooks";
import { handle } from "../format";
import { api } from "../live";
import { Said, useAction } from "./act";
import type { TabProps } from "./studio";

interface Option {
  option_id: string;
  text: string;
  votes?: number;
  percent?: number;
}

function Options({ options, onChange }: { options: string[]; onChange: (options: string[]) => void }) {
  return (
    <div class="option-inputs">
      {options.map((text, index) => (
        <input
          aria-label={`Option ${index + 1}`}
          placeholder={`Option ${index + 1}`}
          maxLength={100}
          value={text}
          onInput={(event) => onChange(options.map((old, at) => (at === index ? event.currentTarget.value : old)))}
        />
      ))}
      {options.length < 6 && <button class="button small" type="button" onClick={() => onChange([...options, ""])}>+ Option</button>}
    </div>
  );
}

function NewPoll({ streamId }: { streamId: string }) {
  const act = useAction();
  const [question, setQuestion] = useState("");
  const [options, setOptions] = useState(["", ""]);
  const [minutes, setMinutes] = useState(2);
  const filled = options.map((text) => text.trim()).filter(Boolean);
  const create = async (event: Event) => {
    event.preventDefault();
    const made = await act.run(async () => {
      const poll = await api.createPoll(streamId, { question: question.trim(), options: filled, duration_seconds: minutes * 60 });
      await api.openPoll(streamId, poll.poll_id);
      return poll;
    }, "The poll is open.");
    if (made) (setQuestion(""), setOptions(["", ""]));
  };
  return (
    <form class="form" onSubmit={create} aria-label="New poll">
      <label class="field">
        <span>Question</span>
        <input name="poll-question" maxLength={200} value={question} onInput={(event) => setQuestion(event.currentTarget.value)} placeholder="Ask your viewers" />
      </label>
      <Options options={options} onChange={setOptions} />
      <div class="row">
        <label class="field">
          <span>Open for (minutes)</span>
          <input type="number" min={1} max={60} value={minutes} onInput={(event) => setMinutes(Number(event.currentTarget.value))} />
        </label>
      </div>
      <div class="actions">
        <button class="button primary" type="submit" disabled={act.busy || !question.trim() || filled.length < 2}>Start poll</button>
      </div>
      <Said action={act} />
    </form>
  );
}

function PollResult({ streamId, poll }: { streamId: string; poll: Json }) {
  const act = useAction();
  const pollId = String(poll.poll_id);
  const options = (poll.options ?? []) as Option[];
  const status = String(poll.status);
  return (
    <li class="result" data-poll={pollId}>
      <div class="result-head">
        <b>{String(poll.question)}</b>
        <span class={`badge status-${status}`}>{status}</span>
      </div>
      <ul class="bars">
        {options.map((option) => (
          <li>
            <span class="bar" style={{ width: `${option.percent ?? 0}%` }} aria-hidden="true" />
            <span class="bar-text">{option.text}</span>
            <span class="bar-figure">{option.votes ?? 0} · {Math.round(option.percent ?? 0)}%</span>
          </li>
        ))}
      </ul>
      <div class="actions">
        <span class="muted small poll-voters">{Number(poll.voters ?? 0)} {Number(poll.voters) === 1 ? "voter" : "voters"}</span>
        {status === "created" && <button class="button small" onClick={() => void act.run(() => api.openPoll(streamId, pollId))}>Open</button>}
        {status === "open" && <button class="button small" onClick={() => void act.run(() => api.closePoll(streamId, pollId), "Closed.")}>Close poll</button>}
      </div>
      <Said action={act} />
    </li>
  );
}

function NewQuestion({ streamId, quizId }: { streamId: string; quizId: string | null }) {
  const act = useAction();
  const [question, setQuestion] = useState("");
  const [options, setOptions] = useState(["", "", ""]);
  const [correct, setCorrect] = useState(0);
  const [seconds, setSeconds] = useState(30);
  const filled = options.map((text) => text.trim()).filter(Boolean);
  const pose = async (event: Event) => {
    event.preventDefault();
    const body = { question: question.trim(), options: filled, correct_option: String(correct + 1), points: 10, time_limit_seconds: seconds };
    const made = await act.run(
      () => (quizId === null ? api.createQuiz(streamId, body) : api.poseQuestion(streamId, quizId, body)),
      quizId === null ? "The quiz has started." : "Question posed.",
    );
    if (made) (setQuestion(""), setOptions(["", "", ""]), setCorrect(0));
  };
  return (
    <form class="form" onSubmit={pose} aria-label="New quiz question">
      <label class="field">
        <span>{quizId === null ? "First question" : "Next question"}</span>
        <input maxLength={200} value={question} onInput={(event) => setQuestion(event.currentTarget.value)} placeholder="What is…?" />
      </label>
      <Options options={options} onChange={setOptions} />
      <div class="row">
        <label class="field">
          <span>Correct answer</span>
          <select value={correct} onChange={(event) => setCorrect(Number(event.currentTarget.value))}>
            {options.map((text, index) => <option value={index}>{text.trim() || `Option ${index + 1}`}</option>)}
          </select>
        </label>
        <label class="field">
          <span>Seconds to answer</span>
          <input type="number" min={5} max={300} value={seconds} onInput={(event) => setSeconds(Number(event.currentTarget.value))} />
        </label>
      </div>
      <div class="actions">
        <button class="button primary" type="submit" disabled={act.busy || !question.trim() || filled.length < 2}>{quizId === null ? "Start quiz" : "Pose question"}</button>
      </div>
      <Said action={act} />
    </form>
  );
}

function Question({ streamId, question }: { streamId: string; question: Json }) {
  const act = useAction();
  const options = (question.options ?? []) as Option[];
  const counts = (question.counts ?? {}) as Record<string, number>;
  const revealed = Boolean(question.revealed);
  return (
    <li class="result" data-question={String(question.question_id)}>
      <div class="result-head">
        <b>{String(question.question)}</b>
        <span class="muted small">{Number(question.answers ?? 0)} answers</span>
      </div>
      {revealed ? (
        <ul class="bars">
          {options.map((option) => (
            <li class={option.option_id === question.correct_option ? "correct" : ""}>
              <span class="bar-text">{option.option_id === question.correct_option ? "✓ " : ""}{option.text}</span>
              <span class="bar-figure">{counts[option.option_id] ?? 0}</span>
            </li>
          ))}
        </ul>
      ) : (
        <div class="actions" role="group" aria-label="Reveal the answer">
          <span class="muted small">Reveal:</span>
          {options.map((option) => (
            <button class="button small" onClick={() => void act.run(() => api.revealAnswer(streamId, String(question.quiz_id), String(question.question_id), option.option_id), "Revealed.")}>
              {option.text}
            </button>
          ))}
        </div>
      )}
      <Said action={act} />
    </li>
  );
}

function Leaderboard({ board }: { board: Json }) {
  const top = (board.top ?? []) as { rank: number; user: string; points: number }[];
  return (
    <ol class="leaderboard" aria-label="Leaderboard">
      {top.length === 0 && <li class="muted small">No points yet.</li>}
      {top.map((row) => <li><span class="rank">{row.rank}</span> {handle(row.user)} <b>{row.points}</b></li>)}
    </ol>
  );
}

export function Interact({ streamId, views }: TabProps) {
  const polls = Object.values(views.polls).sort((a, b) => Number(b.opened_at ?? 0) - Number(a.opened_at ?? 0));
  const quiz = Object.values(views.quiz);
  const questions = quiz.filter((view) => view.kind === "question").sort((a, b) => Number(b.posed_at) - Number(a.posed_at));
  const latestQuiz = questions[0] ? String(questions[0].quiz_id) : null;
  const board = quiz.find((view) => view.kind === "leaderboard" && view.quiz_id === latestQuiz);
  const [fresh, setFresh] = useState(false);
  return (
    <div class="panes">
      <section class="pane" aria-label="Polls">
        <h2>Polls</h2>
        <NewPoll streamId={streamId} />
        <ul class="results">{polls.map((poll) => <PollResult key={String(poll.poll_id)} streamId={streamId} poll={poll} />)}</ul>
      </section>
      <section class="pane" aria-label="Quiz">
        <h2>Quiz</h2>
        {latestQuiz !== null && (
          <p class="muted small">
            Quiz in progress: the next question joins it.{" "}
            <button class="link" onClick={() => setFresh(!fresh)}>{fresh ? "Continue it instead" : "Start a new quiz"}</button>
          </p>
        )}
        <NewQuestion streamId={streamId} quizId={fresh ? null : latestQuiz} />
        <ul class="results">{questions.filter((one) => one.quiz_id === latestQuiz).map((one) => <Question key={String(one.question_id)} streamId={streamId} question={one} />)}</ul>
        {board && <><h3>Leaderboard</h3><Leaderboard board={board} /></>}
      </section>
    </div>
  );
}
