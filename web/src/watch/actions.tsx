// Follow (whether you follow comes with your notifications: `following`) and share.

import { ApiError } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { api, session, signIn } from "../live";

export function FollowButton({ streamId }: { streamId: string }) {
  const [on, setOn] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (session !== null) api.notifications({ limit: 1 }).then(({ following }) => setOn(following.includes(streamId)), () => undefined);
  }, [streamId]);
  const toggle = async () => {
    if (session === null) return void signIn();
    try {
      if (on) await api.unfollow(streamId);
      else await api.follow(streamId);
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
