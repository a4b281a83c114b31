// The quiz card: the newest question with a countdown, answer buttons (one answer each), the
// result once revealed (your answer right or wrong, how everyone answered), and the quiz's
// leaderboard with your own rank (the `quiz` channel's `.../u/<you>` key, sent only to you).

import { ApiError, type Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { live, type Me, session, signIn, whoAmI } from "../live";
import type { Refused } from "./refused";
import { nameOf, useNames } from "../names";

interface Option {
  option_id: string;
  text: string;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function QuizCard({ streamId, views, refused }: { streamId: string; views: Json[]; refused: Refused | null }) {
  useNames();
  const questions = views.filter((view) => view.kind === "question").sort((a, b) => Number(b.posed_at) - Number(a.posed_at));
  const question = questions[0];
  const quizId = String(question?.quiz_id ?? "");
  const board = views.find((view) => view.kind === "leaderboard" && view.quiz_id === quizId);
  const [me, setMe] = useState<Me | null>(null);
  const rank = views.find((view) => view.kind === "rank" && view.quiz_id === quizId && me !== null && view.user === me.userId);
  const [answered, setAnswered] = useState<Record<string, string>>({}); // question id -> option id
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => void whoAmI().then(setMe), []);
  useEffect(() => setProblem(refused?.reason ?? null), [refused]);
  const closesAt = Number(question?.closes_at ?? 0);
  const now = useNow(question !== undefined && !question.revealed && closesAt > Date.now());
  if (!question) return null;
  const questionId = String(question.question_id);
  const revealed = question.revealed === true;
  const left = Math.max(0, Math.ceil((closesAt - now) / 1000));
  const open = !revealed && left > 0;
  const mine = answered[questionId];
  const counts = (question.counts ?? {}) as Record<string, number>;
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);

  const answer = async (optionId: string) => {
    if (session === null) return void signIn();
    setAnswered((now) => ({ ...now, [questionId]: optionId }));
    try {
      await live().answerQuiz(streamId, quizId, questionId, optionId);
      setProblem(null);
    } catch (error) {
      setAnswered(({ [questionId]: _, ...rest }) => rest);
      setProblem(error instanceof ApiError ? error.reason || error.message : String(error));
    }
  };

  const verdict = revealed && mine !== undefined ? (mine === question.correct_option ? "correct" : "wrong") : null;
  return (
    <section class="poll quiz" aria-label={t("quiz.label")} data-quiz={quizId}>
      <p class="poll-kind">
        {t("quiz.question", { points: Number(question.points ?? 1) })}
        <span class="quiz-clock" aria-live="off">{revealed ? "" : open ? t("quiz.closesIn", { seconds: left }) : t("quiz.closed")}</span>
      </p>
      <h2 class="poll-question">{String(question.question)}</h2>
      <ul class="poll-options">
        {((question.options ?? []) as Option[]).map((option) => {
          const correct = revealed && option.option_id === question.correct_option;
          const share = revealed && total > 0 ? Math.round(((counts[option.option_id] ?? 0) * 100) / total) : 0;
          return (
            <li>
              <button
                class={`poll-option${mine === option.option_id ? " chosen" : ""}${correct ? " winner" : ""}`}
                disabled={!open || mine !== undefined}
                aria-pressed={mine === option.option_id}
                onClick={() => void answer(option.option_id)}
              >
                <span class="poll-bar" style={{ width: `${share}%` }} aria-hidden="true" />
                <span class="poll-text">{correct ? "✓ " : ""}{option.text}</span>
                {revealed && <span class="poll-percent">{share}%</span>}
              </button>
            </li>
          );
        })}
      </ul>
      <p class="muted small quiz-status" role="status">
        {verdict === "correct" ? t("quiz.correct") : verdict === "wrong" ? t("quiz.wrong") : mine !== undefined ? t("quiz.answered") : t("quiz.answers", { count: Number(question.answers ?? 0) })}
      </p>
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
      {board && Array.isArray(board.top) && board.top.length > 0 && (
        <div class="leaderboard">
          <h3>{t("quiz.leaderboard")}</h3>
          <ol>
            {(board.top as Json[]).slice(0, 5).map((row) => (
              <li class={me !== null && row.user === me.userId ? "me" : ""}>
                <span class="rank">#{Number(row.rank)}</span>
                <span class="who">{me !== null && row.user === me.userId ? me.name : nameOf(String(row.user))}</span>
                <span class="points">{t("quiz.points", { points: Number(row.points) })}</span>
              </li>
            ))}
          </ol>
          {rank && Number(rank.rank) > 5 && <p class="muted small">{t("quiz.you", { rank: Number(rank.rank), points: Number(rank.points) })}</p>}
        </div>
      )}
    </section>
  );
}
