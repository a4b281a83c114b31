import "./styles.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { t } from "./i18n";
import { LanguagePicker } from "./language";
import { Notifications } from "./notifications";
import { finishSignIn, session, signIn, signOut, whoAmI } from "./live";
import { Lazy } from "./lazy";
import { Discover } from "./pages/discover";
import { Recording } from "./pages/recording";
import { Watch } from "./pages/watch";
import { go, pageOf, usePath } from "./router";

const loadStudio = () => import("./panel/studio").then((module) => module.Studio);
const loadOverlay = () => import("./overlays/overlay").then((module) => module.Overlay);

function Account() {
  const [name, setName] = useState<string | null>(null);
  const [streams, setStreams] = useState(false);
  useEffect(() => {
    void whoAmI().then((me) => {
      setName(me?.name ?? "you");
      setStreams(me?.roles.some((role) => role === "streamer" || role === "admin") ?? false);
    });
  }, [session]);
  if (session === null) {
    return (
      <button class="button primary" onClick={() => void signIn()}>
        {t("account.signIn")}
      </button>
    );
  }
  return (
    <div class="account">
      <Notifications />
      <span class="avatar" aria-hidden="true">{(name ?? "?").slice(0, 1).toUpperCase()}</span>
      {streams && <a class="button ghost studio-link" href="/studio">Studio</a>}
      <span class="account-name">{name ?? "…"}</span>
      <button class="button ghost" onClick={() => void signOut().then(() => location.reload())}>
        {t("account.signOut")}
      </button>
    </div>
  );
}

function Callback() {
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    finishSignIn(new URLSearchParams(location.search)).then((back) => go(back, true), (error) => setProblem(String(error.message ?? error)));
  }, []);
  return <main class="notice">{problem === null ? <p>{t("account.signingIn")}</p> : <p role="alert">{t("account.signInFailed", { problem })}</p>}</main>;
}

function App() {
  const page = pageOf(usePath());
  if (page.name === "overlay") return <Lazy load={loadOverlay} props={{ streamId: page.streamId, kind: page.kind }} />;
  return (
    <>
      <header class="topbar">
        <a href="/" class="brand" aria-label={t("app.home")}>
          <span class="brand-mark" aria-hidden="true" />
          livefold
        </a>
        <div class="topbar-end">
          <LanguagePicker />
          <Account />
        </div>
      </header>
      {page.name === "discover" && <Discover />}
      {page.name === "watch" && <Watch key={page.streamId} streamId={page.streamId} />}
      {page.name === "callback" && <Callback />}
      {page.name === "vod" && <Recording key={page.recordingId} what={{ kind: "vod", streamId: page.streamId, recordingId: page.recordingId }} />}
      {page.name === "clip" && <Recording key={page.clipId} what={{ kind: "clip", clipId: page.clipId }} />}
      {page.name === "studio" && <Lazy load={loadStudio} props={{ streamId: page.streamId, tab: page.tab }} />}
      {page.name === "missing" && (
        <main class="notice">
          <p>{t("app.missing")} <a href="/">{t("app.seeLive")}</a></p>
        </main>
      )}
    </>
  );
}

render(<App />, document.getElementById("app")!);

if ("serviceWorker" in navigator && import.meta.env.PROD) {
  addEventListener("load", () => void navigator.serviceWorker.register("/sw.js").catch(() => undefined));
}
