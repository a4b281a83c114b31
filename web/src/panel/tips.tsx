// Tips: totals, the alerts as they come, and every tip of the stream with its status and a
// refund (the whole rest, or part of it) through the tip's payment provider.

import type { Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { handle } from "../format";
import { api } from "../live";
import { Said, useAction } from "./act";
import { tipsText } from "./stats";
import type { TabProps } from "./studio";

const money = (minor: number, currency: string) => new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);

function Refund({ streamId, tip, onDone }: { streamId: string; tip: Json; onDone: () => void }) {
  const act = useAction();
  const left = Number(tip.amount_minor) - Number(tip.refunded_minor ?? 0);
  const [amount, setAmount] = useState((left / 100).toFixed(2));
  const refund = async (event: Event) => {
    event.preventDefault();
    const minor = Math.round(Number(amount) * 100);
    const done = await act.run(() => api.refundTip(streamId, String(tip.tip_id), minor === left ? {} : { amount_minor: minor, reason: "refunded by the streamer" }), "Refund sent.");
    if (done) onDone();
  };
  return (
    <form class="inline-form" onSubmit={refund}>
      <input aria-label="Amount to refund" type="number" step="0.01" min="0.01" max={(left / 100).toFixed(2)} value={amount} onInput={(event) => setAmount(event.currentTarget.value)} />
      <button class="button small" type="submit" disabled={act.busy}>Refund</button>
      <Said action={act} />
    </form>
  );
}

export function Tips({ streamId, views }: TabProps) {
  const [records, setRecords] = useState<Json[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const load = () => api.tipRecords(streamId, { limit: 100 }).then((page) => (setRecords(page.items), setProblem(null)), (error) => setProblem(String(error.reason ?? error.message ?? error)));
  useEffect(() => void load(), [streamId, views.alerts.length]);
  const totals = (views.tips?.totals ?? {}) as Record<string, { net: number; tips: number }>;
  return (
    <div class="panes">
      <section class="pane" aria-label="Tips feed">
        <h2>Tips</h2>
        <p class="big-figure" data-testid="tips-total">{tipsText(Object.fromEntries(Object.entries(totals).map(([currency, figures]) => [currency, figures.net])))}</p>
        <p class="muted small">{Object.values(totals).reduce((sum, figures) => sum + Number(figures.tips ?? 0), 0)} tipped · {Number(views.tips?.pending ?? 0)} pending · {Number(views.tips?.failed ?? 0)} failed</p>
        <h3>Just now</h3>
        <ul class="feed" aria-live="polite">
          {views.alerts.length === 0 && <li class="muted small">Tips appear here as they come in.</li>}
          {views.alerts.map((alert) => (
            <li class="feed-item" data-tip={String(alert.tip_id)}>
              <b>{money(Number(alert.amount_minor), String(alert.currency))}</b> from {handle(String(alert.supporter))}
              {alert.message ? <p class="tip-message">“{String(alert.message)}”</p> : null}
            </li>
          ))}
        </ul>
      </section>
      <section class="pane" aria-label="All tips">
        <h2>All tips</h2>
        {problem !== null && <p class="refused">{problem}</p>}
        {records === null ? <p class="muted">Loading…</p> : records.length === 0 ? <p class="muted">No tips yet.</p> : (
          <ul class="records">
            {records.map((tip) => (
              <li class="record" data-tip={String(tip.tip_id)}>
                <div class="record-head">
                  <b>{money(Number(tip.amount_minor), String(tip.currency))}</b>
                  <span class="grow">{handle(String(tip.supporter))}</span>
                  <span class={`badge status-${String(tip.status)}`}>{String(tip.status).replace("_", " ")}</span>
                </div>
                {Number(tip.refunded_minor ?? 0) > 0 && <p class="muted small">refunded {money(Number(tip.refunded_minor), String(tip.currency))}</p>}
                {(tip.status === "captured" || tip.status === "partially_refunded") && <Refund streamId={streamId} tip={tip} onDone={() => setTimeout(() => void load(), 800)} />}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
