// The analytics tab: per-minute (or per-hour) viewers, messages, reactions and tips from
// ClickHouse (GET /streams/{id}/analytics, about a second behind the log), drawn as small inline
// SVG charts: no chart library, so the page stays light.

import type { Analytics as Figures } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { count } from "../format";
import { api } from "../live";
import { reasonOf } from "./act";
import type { TabProps } from "./studio";

const WIDTH = 560;
const HEIGHT = 160;
const PAD = { left: 36, right: 10, top: 12, bottom: 24 };
const REFRESH_MS = 15_000;

type Series = "viewers" | "messages" | "reactions" | "tips";
const CHARTS: [series: Series, title: string, hue: number][] = [
  ["viewers", "Viewers", 265],
  ["messages", "Chat messages", 200],
  ["reactions", "Reactions", 20],
  ["tips", "Tips", 140],
];

function clock(at: number, hourly: boolean): string {
  const date = new Date(at);
  return hourly ? `${date.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${date.getHours()}h` : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

const MIN_BUCKETS = 12; // a chart spans at least this many buckets, ending at the latest

type Point = Figures["points"][number];

/** The points, with zero buckets before them up to MIN_BUCKETS (a stream's first minutes). */
function spanned(figures: Figures): Point[] {
  const points = figures.points;
  if (points.length === 0 || points.length >= MIN_BUCKETS) return points;
  const first = points[0]!.at;
  const padding = Array.from({ length: MIN_BUCKETS - points.length }, (_, index) => ({
    at: first - (MIN_BUCKETS - points.length - index) * figures.bucket_ms,
    viewers: 0, chatters: 0, messages: 0, reactions: 0, votes: 0, tips: 0,
  }));
  return [...padding, ...points];
}

export function Chart({ figures, series, title, hue }: { figures: Figures; series: Series; title: string; hue: number }) {
  const points = spanned(figures);
  const values = points.map((point) => point[series]);
  const top = Math.max(1, ...values);
  const innerWidth = WIDTH - PAD.left - PAD.right;
  const innerHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = innerWidth / Math.max(1, points.length);
  const x = (index: number) => PAD.left + slot * (index + 0.5);
  const y = (value: number) => PAD.top + innerHeight - (value / top) * innerHeight;
  const total = series === "viewers" ? Number(figures.totals.peak_viewers ?? 0) : Number(figures.totals[series] ?? 0);
  const hourly = figures.bucket === "hour";
  const colour = `hsl(${hue} 80% 65%)`;
  // Viewers are a level (a line over an area); the others are counts per bucket (bars).
  const line = values.map((value, index) => `${index === 0 ? "M" : "L"}${x(index).toFixed(1)},${y(value).toFixed(1)}`).join(" ");
  const area = `${line} L${x(values.length - 1).toFixed(1)},${y(0)} L${x(0).toFixed(1)},${y(0)} Z`;
  const ticks = top >= 2 ? [0, Math.round(top / 2), top] : [0, top];
  return (
    <figure class="chart" data-series={series} data-total={total}>
      <figcaption>
        <span>{title}</span>
        <b>{count(total)}</b>
        <small class="muted">{series === "viewers" ? "peak" : "total"}</small>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title} per ${figures.bucket}: ${figures.points.map((point) => point[series]).join(", ")}`}>
        <defs>
          <linearGradient id={`fill-${series}`} x1="0" x2="0" y1="0" y2="1">
            <stop offset="0%" stop-color={colour} stop-opacity="0.5" />
            <stop offset="100%" stop-color={colour} stop-opacity="0.05" />
          </linearGradient>
        </defs>
        {ticks.map((tick) => (
          <g>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} class="grid-line" />
            <text x={PAD.left - 6} y={y(tick) + 4} class="axis" text-anchor="end">{count(tick)}</text>
          </g>
        ))}
        {series === "viewers" ? (
          <>
            <path d={area} fill={`url(#fill-${series})`} />
            <path d={line} fill="none" stroke={colour} stroke-width="2.5" stroke-linejoin="round" />
          </>
        ) : (
          values.map((value, index) => value > 0 && (
            <rect x={x(index) - slot * 0.35} width={slot * 0.7} y={y(value)} height={y(0) - y(value)} rx="3" fill={`url(#fill-${series})`} stroke={colour} stroke-width="1.5" />
          ))
        )}
        <text x={PAD.left} y={HEIGHT - 6} class="axis">{clock(points[0]!.at, hourly)}</text>
        <text x={WIDTH - PAD.right} y={HEIGHT - 6} class="axis" text-anchor="end">{clock(points.at(-1)!.at, hourly)}</text>
      </svg>
    </figure>
  );
}

export function Analytics({ streamId }: TabProps) {
  const [bucket, setBucket] = useState<"minute" | "hour">("minute");
  const [figures, setFigures] = useState<Figures | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const load = () => api.analytics(streamId, bucket).then((answer) => (setFigures(answer), setProblem(null)), (error) => setProblem(reasonOf(error)));
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [streamId, bucket]);
  return (
    <section class="pane analytics" aria-label="Analytics">
      <div class="analytics-head">
        <h2>Analytics</h2>
        <div class="segmented" role="group" aria-label="Per">
          {(["minute", "hour"] as const).map((name) => (
            <button aria-pressed={bucket === name} onClick={() => setBucket(name)}>per {name}</button>
          ))}
        </div>
      </div>
      {problem !== null && <p class="refused" role="alert">{problem}</p>}
      {figures === null ? <p class="muted">Loading…</p> : figures.points.length === 0 ? (
        <p class="muted empty">No activity counted yet: figures appear about a second after viewers watch, chat, react or tip.</p>
      ) : (
        <>
          <div class="charts">{CHARTS.map(([series, title, hue]) => <Chart figures={figures} series={series} title={title} hue={hue} />)}</div>
          <p class="muted small">
            {count(figures.totals.chatters ?? 0)} {figures.totals.chatters === 1 ? "chatter" : "chatters"} · {count(figures.totals.votes ?? 0)} {figures.totals.votes === 1 ? "vote" : "votes"} · as of {new Date(figures.as_of).toLocaleTimeString()}
          </p>
        </>
      )}
    </section>
  );
}
