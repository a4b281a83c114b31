import { numbers, t } from "./i18n";

/** A user's display name for their id (names.ts asks the gateway; components that show names
 * call `useNames()` to re-render when they arrive). */
export { nameOf as handle } from "./names";

export const count = (n: number): string => numbers.format(n);

export function since(epochMs: number | null | undefined, now = Date.now()): string {
  if (!epochMs) return "";
  const minutes = Math.max(0, Math.round((now - epochMs) / 60_000));
  if (minutes < 1) return t("watch.justLive");
  if (minutes < 60) return t("watch.liveMinutes", { minutes });
  return t("watch.liveHours", { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
}

/** A colour per user, the same everywhere. */
export function hue(userId: string): number {
  let hash = 0;
  for (const char of userId) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return Math.abs(hash) % 360;
}

/** What an avatar shows: the first letter of a name, nothing for an id. */
export function initial(name: string): string {
  return name.length > 18 || name.startsWith("user-") ? "" : name.slice(0, 1).toUpperCase();
}
