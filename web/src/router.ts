// Paths as pages: / (discover), /watch/<stream id>, /auth/callback, /studio[/<stream id>[/<tab>]]
// (the streamer's control panel), /overlay/<stream id>/<kind> (OBS browser sources), /vod/<stream
// id>/<recording id> and /clip/<clip id> (played back with the chat replayed). Links are
// plain <a href>s caught here, so the back button and opening in a new tab both work.

import { useEffect, useState } from "preact/hooks";

export type Page =
  | { name: "discover" }
  | { name: "watch"; streamId: string }
  | { name: "callback" }
  | { name: "studio"; streamId: string | null; tab: string | null }
  | { name: "overlay"; streamId: string; kind: string }
  | { name: "vod"; streamId: string; recordingId: string }
  | { name: "clip"; clipId: string }
  | { name: "missing" };

export function pageOf(path: string): Page {
  if (path === "/" || path === "") return { name: "discover" };
  if (path === "/auth/callback") return { name: "callback" };
  const watch = /^\/watch\/([^/]+)$/.exec(path);
  if (watch) return { name: "watch", streamId: decodeURIComponent(watch[1]!) };
  const studio = /^\/studio(?:\/([^/]+)(?:\/([a-z-]+))?)?\/?$/.exec(path);
  if (studio) return { name: "studio", streamId: studio[1] ? decodeURIComponent(studio[1]) : null, tab: studio[2] ?? null };
  const overlay = /^\/overlay\/([^/]+)\/([a-z-]+)$/.exec(path);
  if (overlay) return { name: "overlay", streamId: decodeURIComponent(overlay[1]!), kind: overlay[2]! };
  const vod = /^\/vod\/([^/]+)\/([^/]+)$/.exec(path);
  if (vod) return { name: "vod", streamId: decodeURIComponent(vod[1]!), recordingId: decodeURIComponent(vod[2]!) };
  const clip = /^\/clip\/([^/]+)$/.exec(path);
  if (clip) return { name: "clip", clipId: decodeURIComponent(clip[1]!) };
  return { name: "missing" };
}

export function go(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const moved = () => setPath(location.pathname);
    const clicked = (event: MouseEvent) => {
      const link = (event.target as Element | null)?.closest?.("a[href^='/']");
      if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      go(link.getAttribute("href")!);
      scrollTo(0, 0);
    };
    addEventListener("popstate", moved);
    addEventListener("click", clicked);
    return () => {
      removeEventListener("popstate", moved);
      removeEventListener("click", clicked);
    };
  }, []);
  return path;
}
