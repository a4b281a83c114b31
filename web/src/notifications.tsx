// The notification centre: a bell in the top bar (signed in) with the count of new ones, the list
// (`GET /notifications`, newest first) kept live by the socket's `notification` frames, and a
// switch for Web Push (the service worker's `push` handler shows them when the app is closed).
// What was seen is this device's to remember (the newest `occurred_at` opened).

import type { Notification } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "./i18n";
import { api, listen, session } from "./live";
import { nameOf, useNames } from "./names";

const SEEN = "livefold.notifications.seen";

function describe(note: Notification): { text: string; href: string } {
  const payload = (note.payload ?? {}) as Record<string, string>;
  const watch = `/watch/${encodeURIComponent(note.stream_id)}`;
  switch (note.kind) {
    case "stream_live":
      return { text: t("notifications.live", { name: nameOf(payload.streamer ?? ""), title: payload.title ?? "" }), href: watch };
    case "stream_starting_soon":
      return { text: t("notifications.soon", { title: payload.title ?? "" }), href: watch };
    case "chat_reply":
      return { text: t("notifications.reply", { name: nameOf(payload.from ?? "") }), href: watch };
    case "tip_received":
      return { text: t("notifications.tip", { name: nameOf(payload.from ?? "") }), href: watch };
    default:
      return { text: note.kind, href: watch };
  }
}

/** Web Push on this device: the browser's subscription, registered with livefold. */
async function enablePush(): Promise<void> {
  const registration = await navigator.serviceWorker.ready;
  const { public_key: key } = await api.vapidPublicKey();
  const raw = Uint8Array.from(atob(key.replaceAll("-", "+").replaceAll("_", "/")), (char) => char.charCodeAt(0));
  const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: raw });
  await api.registerPushSubscription(subscription.toJSON() as { endpoint: string; keys: { p256dh: string; auth: string } });
}

export function Notifications() {
  useNames();
  const [list, setList] = useState<Notification[]>([]);
  const [open, setOpen] = useState(false);
  const [seen, setSeen] = useState(() => Number(localStorage.getItem(SEEN) ?? 0));
  // "refused": the person blocked notifications; "unavailable": the browser has no push service.
  const [push, setPush] = useState<"off" | "on" | "refused" | "unavailable">("off");
  useEffect(() => {
    if (session === null) return;
    api.notifications({ limit: 50 }).then(({ notifications }) => setList((now) => merge(now, notifications)), () => undefined);
    return listen((frame) => {
      if (frame.type === "notification") setList((now) => merge(now, [frame.notification]));
    });
  }, []);
  if (session === null) return null;
  const fresh = list.filter((note) => note.occurred_at > seen).length;
  const toggle = () => {
    if (open && list.length) {
      const newest = Math.max(seen, ...list.map((note) => note.occurred_at));
      localStorage.setItem(SEEN, String(newest));
      setSeen(newest);
    }
    setOpen(!open);
  };
  return (
    <div class="bell-wrap">
      <button class="button ghost bell" aria-label={t("notifications.open", { count: fresh })} aria-expanded={open} onClick={toggle}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">
          <path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0" />
        </svg>
        {fresh > 0 && <span class="bell-count">{fresh}</span>}
      </button>
      {open && (
        <section class="notifications" aria-label={t("notifications.title")}>
          <header>
            <h2>{t("notifications.title")}</h2>
            {"PushManager" in window && push !== "on" && (
              <button class="chip" onClick={() => enablePush().then(() => setPush("on"), () => setPush(Notification.permission === "denied" ? "refused" : "unavailable"))}>
                {push === "refused" ? t("notifications.pushRefused") : push === "unavailable" ? t("notifications.pushUnavailable") : t("notifications.push")}
              </button>
            )}
          </header>
          {list.length === 0 ? (
            <p class="muted small">{t("notifications.empty")}</p>
          ) : (
            <ol>
              {list.map((note) => {
                const { text, href } = describe(note);
                return (
                  <li class={note.occurred_at > seen ? "fresh" : ""} data-kind={note.kind}>
                    <a href={href} onClick={() => setOpen(false)}>{text}</a>
                    <time class="muted small">{new Date(note.occurred_at).toLocaleTimeString()}</time>
                  </li>
                );
              })}
            </ol>
          )}
        </section>
      )}
    </div>
  );
}

function merge(now: Notification[], more: Notification[]): Notification[] {
  const known = new Set(now.map((note) => note.notification_id));
  const all = [...now, ...more.filter((note) => !known.has(note.notification_id))];
  return all.sort((a, b) => b.occurred_at - a.occurred_at).slice(0, 100);
}
