// Follow and share. The gateway has no read of whom you follow yet, so this device remembers
// what you followed here (a follow made elsewhere shows as not followed until pressed again,
// which is harmless: following twice is one follow).

import { ApiError } from "livefold-sdk";
import { useState } from "preact/hooks";
import { t } from "../i18n";
import { api, session, signIn } from "../live";

const FOLLOWED = "livefold.followed";

function followed(): Set<string> {
  try {
    return new Set(JSON.parse(localStorage.getItem(FOLLOWED) ?? "[]") as string[]);
  } catch {
    return new Set();
  }
}

export function FollowButton({ streamId, streamer }: { streamId: string; streamer: string }) {
  const [on, setOn] = useState(() => followed().has(streamer));
  const [problem, setProblem] = useState<string | null>(null);
  const toggle = async () => {
    if (session === null) return void signIn();
    try {
      if (on) await api.unfollow(streamId);
      else await api.follow(streamId);
      const all = followed();
      if (on) all.delete(streamer);
      else all.add(streamer);
      localStorage.setItem(FOLLOWED, JSON.stringify([...all]));
      setOn(!on);
      setProblem(null);
    } catch (error) {
      setProblem(error instanceof ApiError ? error.reason || error.message : String(error));
    }
  };
  return (
    <>
      <button class={on ? "button follow on" : "button follow"} aria-pressed={on} onClick={() => void toggle()}>
        <span aria-hidden="true">{on ? "✓" : "+"}</span> <span class="label">{on ? t("actions.following") : t("actions.follow")}</span>
      </button>
      {problem !== null && <span class="refused" role="alert">{problem}</span>}
    </>
  );
}

export function ShareButton({ title }: { title: string }) {
  const [copied, setCopied] = useState(false);
  const share = async () => {
    const url = location.href;
    if (navigator.share) {
      await navigator.share({ title, url }).catch(() => undefined);
      return;
    }
    await navigator.clipboard?.writeText(url).catch(() => undefined);
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  return (
    <button class="button share" onClick={() => void share()} aria-label={copied ? t("actions.copied") : t("actions.share")}>
      <span aria-hidden="true">↗</span> <span class="label">{copied ? t("actions.copied") : t("actions.share")}</span>
    </button>
  );
}
