// Overlays for OBS: pick one, set its colours, font, size, position, sound (and the goal), add
// custom CSS (sanitised), copy its address into an OBS browser source. The preview is the
// overlay itself in a frame.

import { useEffect, useState } from "preact/hooks";
import { DEFAULTS, FONTS, KIND_NAMES, KINDS, type Kind, type OverlayConfig, POSITIONS, checked, overlayUrl, sanitizeCss } from "../overlays/config";
import type { TabProps } from "./studio";

const SAVED = "livefold.overlays"; // localStorage: the last look of each stream's overlays

function saved(streamId: string): OverlayConfig {
  try {
    return checked({ ...DEFAULTS, ...(JSON.parse(localStorage.getItem(`${SAVED}.${streamId}`) ?? "{}") as object) });
  } catch {
    return DEFAULTS;
  }
}

export function OverlayDesk({ streamId }: TabProps) {
  const [kind, setKind] = useState<Kind>("alerts");
  const [config, setConfig] = useState<OverlayConfig>(() => saved(streamId));
  const [css, setCss] = useState(config.css);
  const [copied, setCopied] = useState(false);
  const look = { ...config, css: sanitizeCss(css) };
  const url = overlayUrl(location.origin, streamId, kind, look);
  const [frameUrl, setFrameUrl] = useState(url);
  useEffect(() => {
    localStorage.setItem(`${SAVED}.${streamId}`, JSON.stringify(look));
    const timer = setTimeout(() => setFrameUrl(url), 400); // reload the preview once typing stops
    return () => clearTimeout(timer);
  }, [url]);
  const set = <K extends keyof OverlayConfig>(name: K, value: OverlayConfig[K]) => setConfig({ ...config, [name]: value });
  const copy = async () => {
    await navigator.clipboard.writeText(url).catch(() => undefined);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  const dropped = css.trim() !== "" && look.css.replace(/\s+/g, "") !== css.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\s+/g, "");
  return (
    <div class="panes overlays">
      <section class="pane" aria-label="Overlay settings">
        <h2>Overlays</h2>
        <div class="segmented wrap" role="tablist" aria-label="Overlay">
          {KINDS.map((name) => (
            <button role="tab" aria-selected={kind === name} data-kind={name} onClick={() => setKind(name)}>{KIND_NAMES[name]}</button>
          ))}
        </div>
        <div class="row">
          <label class="field colour"><span>Accent</span><input type="color" value={config.accent.slice(0, 7)} onInput={(event) => set("accent", event.currentTarget.value)} /></label>
          <label class="field colour"><span>Text</span><input type="color" value={config.text.slice(0, 7)} onInput={(event) => set("text", event.currentTarget.value)} /></label>
          <label class="field colour"><span>Box</span><input type="color" value={config.background.slice(0, 7)} onInput={(event) => set("background", `${event.currentTarget.value}cc`)} /></label>
        </div>
        <div class="row">
          <label class="field">
            <span>Font</span>
            <select value={config.font} onChange={(event) => set("font", event.currentTarget.value as OverlayConfig["font"])}>
              {FONTS.map((font) => <option value={font}>{font}</option>)}
            </select>
          </label>
          <label class="field">
            <span>Size ({config.size}px)</span>
            <input type="range" min={12} max={48} value={config.size} onInput={(event) => set("size", Number(event.currentTarget.value))} />
          </label>
          <label class="field">
            <span>Position</span>
            <select value={config.position} onChange={(event) => set("position", event.currentTarget.value as OverlayConfig["position"])}>
              {POSITIONS.map((position) => <option value={position}>{position.replace("-", " ")}</option>)}
            </select>
          </label>
        </div>
        {kind === "alerts" && (
          <label class="check"><input type="checkbox" checked={config.sound} onChange={(event) => set("sound", event.currentTarget.checked)} /> Play a chime with each alert</label>
        )}
        {kind === "goal" && (
          <div class="row">
            <label class="field"><span>Goal title</span><input value={config.goal_title} maxLength={60} onInput={(event) => set("goal_title", event.currentTarget.value)} /></label>
            <label class="field"><span>Goal ({config.goal_currency})</span><input type="number" min={1} value={config.goal_minor / 100} onInput={(event) => set("goal_minor", Math.max(1, Math.round(Number(event.currentTarget.value) * 100)))} /></label>
            <label class="field"><span>Currency</span><input value={config.goal_currency} maxLength={3} onInput={(event) => set("goal_currency", event.currentTarget.value.toUpperCase())} /></label>
          </div>
        )}
        <label class="field">
          <span>Custom CSS <small class="muted">(plain rules and visual properties only; @-rules, url(), expression() are removed)</small></span>
          <textarea rows={4} spellcheck={false} value={css} onInput={(event) => setCss(event.currentTarget.value)} placeholder=".ov-alert-title { text-transform: uppercase; }" aria-label="Custom CSS" />
        </label>
        {dropped && <p class="muted small" data-testid="css-kept">Kept: <code>{look.css || "nothing"}</code></p>}
        <div class="copy-row">
          <span class="copy-label">Browser source</span>
          <code class="copy-value" data-testid="overlay-url">{url}</code>
          <button class="button small" onClick={() => void copy()}>{copied ? "Copied" : "Copy"}</button>
        </div>
        <p class="muted small">In OBS: Sources → + → Browser, paste the address, 1920×1080.</p>
      </section>
      <section class="pane" aria-label="Preview">
        <h2>Preview</h2>
        <div class="overlay-preview">
          <iframe src={`${frameUrl}&demo=1`} title={`${KIND_NAMES[kind]} preview`} />
        </div>
        <p class="muted small">Live, with samples where the stream has nothing yet (OBS shows only what happens).</p>
      </section>
    </div>
  );
}
