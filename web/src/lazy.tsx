// A page in its own chunk, fetched when first shown: the control panel and the overlays stay
// out of what a viewer's first visit downloads.

import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

export function Lazy<P extends object>({ load, props }: { load: () => Promise<ComponentType<P>>; props: P }) {
  const [Loaded, setLoaded] = useState<ComponentType<P> | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    load().then((component) => setLoaded(() => component), (error) => setProblem(String(error?.message ?? error)));
  }, [load]);
  if (problem !== null) return <main class="notice"><p role="alert">Cannot load this page: {problem}</p></main>;
  return Loaded === null ? <main class="notice"><p class="muted">Loading…</p></main> : <Loaded {...props} />;
}
