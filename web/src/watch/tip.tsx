// Tipping: an amount (presets or your own), a message, then the payment the gateway's flow
// offers (the sandbox: a test card, no real money), then "thank you" once the tip's own record
// (the `tips` channel's `<stream>/tip/<id>/u/<you>`, sent only to you) says it was captured.

import { ApiError, type Json } from "livefold-sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { money, t } from "../i18n";
import { api, session, signIn } from "../live";

const CURRENCY = "USD";
const PRESETS = [200, 500, 1000, 2000]; // minor units

type Step = { name: "amount" } | { name: "pay"; tipId: string; secret: string; cards: Record<string, string> } | { name: "paying"; tipId: string } | { name: "done"; tipId: string };

export function TipButton({ streamId, streamerName, records }: { streamId: string; streamerName: string; records: Record<string, Json> }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [step, setStep] = useState<Step>({ name: "amount" });
  const [amount, setAmount] = useState(PRESETS[1]!);
  const [message, setMessage] = useState("");
  const [card, setCard] = useState("4242424242424242");
  const [problem, setProblem] = useState<string | null>(null);
  const record = "tipId" in step ? records[step.tipId] : undefined;
  useEffect(() => {
    if (step.name === "paying" && record?.status === "captured") setStep({ name: "done", tipId: step.tipId });
  }, [step.name, record?.status]);

  const open = () => {
    if (session === null) return void signIn();
    setStep({ name: "amount" });
    setProblem(null);
    dialog.current?.showModal();
  };
  const fail = (error: unknown) => setProblem(error instanceof ApiError ? error.reason || error.message : String(error));

  const start = async (event: Event) => {
    event.preventDefault();
    try {
      const tip = await api.tip(streamId, { amount_minor: amount, currency: CURRENCY, message: message.trim() || undefined });
      const payment = (tip.payment ?? null) as Json | null;
      const next = (payment?.next_action ?? null) as Json | null;
      if (payment === null || next?.type !== "sandbox_pay") throw new Error("no payment flow is set up on this livefold");
      setStep({ name: "pay", tipId: tip.tip_id, secret: String(payment.client_secret), cards: (next.test_cards ?? {}) as Record<string, string> });
      setProblem(null);
    } catch (error) {
      fail(error);
    }
  };

  const pay = async (event: Event) => {
    event.preventDefault();
    if (step.name !== "pay") return;
    try {
      const paid = await api.paySandbox(step.secret, card);
      if (paid.decline_code) return setProblem(t("tip.declined", { reason: paid.decline_code.replaceAll("_", " ") }));
      setProblem(null);
      setStep({ name: "paying", tipId: step.tipId }); // done once its record says captured (maybe already)
    } catch (error) {
      fail(error);
    }
  };

  const shown = money(amount, CURRENCY);
  return (
    <>
      <button class="button tip-button" onClick={open}>
        <span class="emoji" aria-hidden="true">💜</span> {t("actions.tip")}
      </button>
      <dialog ref={dialog} class="sheet" aria-labelledby="tip-title" onClose={() => setStep({ name: "amount" })}>
        <h2 id="tip-title">{t("tip.title", { name: streamerName })}</h2>
        {step.name === "amount" && (
          <form class="sheet-body" onSubmit={start}>
            <fieldset class="presets">
              <legend>{t("tip.amount")}</legend>
              {PRESETS.map((preset) => (
                <button type="button" class={preset === amount ? "chip chosen" : "chip"} aria-pressed={preset === amount} onClick={() => setAmount(preset)}>
                  {money(preset, CURRENCY)}
                </button>
              ))}
              <label class="other-amount">
                <span>{t("tip.other")}</span>
                <input type="number" min="1" max="500" step="1" inputMode="numeric" value={amount / 100} onInput={(event) => setAmount(Math.max(100, Math.round(Number(event.currentTarget.value) * 100) || 100))} />
              </label>
            </fieldset>
            <label class="field">
              <span>{t("tip.message")}</span>
              <input maxLength={200} placeholder={t("tip.messagePlaceholder")} value={message} onInput={(event) => setMessage(event.currentTarget.value)} />
            </label>
            {problem !== null && <p class="refused" role="alert">{problem}</p>}
            <div class="sheet-actions">
              <button type="button" class="button ghost" onClick={() => dialog.current?.close()}>{t("tip.close")}</button>
              <button type="submit" class="button primary">{t("tip.pay", { amount: shown })}</button>
            </div>
          </form>
        )}
        {step.name === "pay" && (
          <form class="sheet-body" onSubmit={pay}>
            <p class="muted small">{t("tip.sandbox")}</p>
            <label class="field">
              <span>{t("tip.card")}</span>
              <select value={card} onChange={(event) => setCard(event.currentTarget.value)}>
                {Object.entries(step.cards).map(([number, outcome]) => (
                  <option value={number}>{`${number.replace(/(\d{4})(?=\d)/g, "$1 ")} · ${outcome.replaceAll("_", " ")}`}</option>
                ))}
              </select>
            </label>
            {problem !== null && <p class="refused" role="alert">{problem}</p>}
            <div class="sheet-actions">
              <button type="button" class="button ghost" onClick={() => dialog.current?.close()}>{t("tip.close")}</button>
              <button type="submit" class="button primary">{t("tip.pay", { amount: shown })}</button>
            </div>
          </form>
        )}
        {step.name === "paying" && <p class="sheet-body" role="status">{t("tip.paying")}</p>}
        {step.name === "done" && (
          <div class="sheet-body">
            <p class="thanks" role="status">{t("tip.thanks", { amount: shown, name: streamerName })}</p>
            <div class="sheet-actions">
              <button class="button primary" onClick={() => dialog.current?.close()}>{t("tip.close")}</button>
            </div>
          </div>
        )}
      </dialog>
    </>
  );
}
