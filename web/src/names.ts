// Users' public names: chat, streams and tips carry user ids, the app shows display names.
// Ids asked for in the same tick go in one request (`LivefoldClient.profiles`), each id once per
// page load; a component re-renders when names it showed arrive.

import type { Profile } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { api } from "./live";

const BATCH = 100; // what the gateway takes per request
const known = new Map<string, Profile | null>(); // null: asked, not answered yet
const wanted = new Set<string>();
const listeners = new Set<() => void>();
let scheduled = false;

function ask(): void {
  scheduled = false;
  const ids = [...wanted];
  wanted.clear();
  for (let start = 0; start < ids.length; start += BATCH) {
    const some = ids.slice(start, start + BATCH);
    api.profiles(some).then(
      ({ items }) => {
        for (const profile of items) known.set(profile.user_id, profile);
        for (const listener of listeners) listener();
      },
      () => {
        for (const id of some) known.delete(id); // asked again by the next render
      },
    );
  }
}

function want(userId: string): void {
  if (!userId || known.has(userId) || userId === "system") return;
  known.set(userId, null);
  wanted.add(userId);
  if (!scheduled) {
    scheduled = true;
    queueMicrotask(ask);
  }
}

/** A short stand-in while the name is on its way, or for an erased account. */
export function fallbackName(userId: string): string {
  return userId.length > 18 ? `user-${userId.replaceAll("-", "").slice(0, 6)}` : userId;
}

/** The display name of a user id (asked for if not known yet). */
export function nameOf(userId: string): string {
  want(userId);
  return known.get(userId)?.display_name ?? fallbackName(userId);
}

/** The username (for @mentions), null until known. */
export function usernameOf(userId: string): string | null {
  want(userId);
  return known.get(userId)?.username ?? null;
}

/** Re-render the calling component when names arrive. */
export function useNames(): void {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const changed = () => setVersion((version) => version + 1);
    listeners.add(changed);
    return () => void listeners.delete(changed);
  }, []);
}
