const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

export const count = (n: number): string => compact.format(n);

export function since(epochMs: number | null | undefined, now = Date.now()): string {
  if (!epochMs) return "";
  const minutes = Math.max(0, Math.round((now - epochMs) / 60_000));
  if (minutes < 1) return "just went live";
  if (minutes < 60) return `live ${minutes} min`;
  return `live ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A short, stable name for a user id (chat and streams carry ids, not display names). */
export function handle(userId: string): string {
  return userId.length > 18 ? `user-${userId.replaceAll("-", "").slice(0, 6)}` : userId;
}

/** A colour per user, the same everywhere. */
export function hue(userId: string): number {
  let hash = 0;
  for (const char of userId) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return Math.abs(hash) % 360;
}

/** What an avatar shows: the first letter of a name, nothing for an id. */
export function initial(userId: string): string {
  return userId.length > 18 ? "" : userId.slice(0, 1).toUpperCase();
}
