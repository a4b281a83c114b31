// An overlay's look, carried in its URL (/overlay/<stream id>/<kind>?config=<base64url JSON>),
// so OBS needs nothing but the address: colours, font, size, position, sound, a tip goal, and
// custom CSS, which is cut down to a safe subset here (no @-rules, no url(), no expression(),
// no escapes, only visual properties), the same when the panel previews it and when OBS shows it.

export const KINDS = ["chat", "alerts", "poll", "reactions", "goal"] as const;
export type Kind = (typeof KINDS)[number];

export const KIND_NAMES: Record<Kind, string> = {
  chat: "Chat box",
  alerts: "Tip & follow alerts",
  poll: "Live poll",
  reactions: "Reaction rain",
  goal: "Tip goal bar",
};

export const FONTS = ["Inter", "system-ui", "Georgia", "Courier New", "Impact", "Comic Sans MS"] as const;
export const POSITIONS = ["top-left", "top-right", "bottom-left", "bottom-right", "center"] as const;

export interface OverlayConfig {
  accent: string;
  text: string;
  background: string; // the overlay's own boxes; the page itself stays transparent
  font: (typeof FONTS)[number];
  size: number; // px
  position: (typeof POSITIONS)[number];
  sound: boolean;
  goal_minor: number;
  goal_currency: string;
  goal_title: string;
  css: string;
}

export const DEFAULTS: OverlayConfig = {
  accent: "#8b5cf6",
  text: "#ffffff",
  background: "#0e0e13cc",
  font: "Inter",
  size: 20,
  position: "bottom-left",
  sound: true,
  goal_minor: 10_000,
  goal_currency: "EUR",
  goal_title: "Tip goal",
  css: "",
};

const COLOUR = /^#[0-9a-f]{3,8}$/i;

/** Only what each field may hold; anything else falls back to the default. */
export function checked(raw: unknown): OverlayConfig {
  const given = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  const colour = (name: "accent" | "text" | "background") => (typeof given[name] === "string" && COLOUR.test(given[name] as string) ? (given[name] as string) : DEFAULTS[name]);
  const oneOf = <T extends string>(value: unknown, allowed: readonly T[], fallback: T): T => (allowed.includes(value as T) ? (value as T) : fallback);
  const number = (value: unknown, low: number, high: number, fallback: number) =>
    typeof value === "number" && Number.isFinite(value) && value >= low && value <= high ? Math.round(value) : fallback;
  return {
    accent: colour("accent"),
    text: colour("text"),
    background: colour("background"),
    font: oneOf(given.font, FONTS, DEFAULTS.font),
    size: number(given.size, 10, 64, DEFAULTS.size),
    position: oneOf(given.position, POSITIONS, DEFAULTS.position),
    sound: typeof given.sound === "boolean" ? given.sound : DEFAULTS.sound,
    goal_minor: number(given.goal_minor, 1, 100_000_000, DEFAULTS.goal_minor),
    goal_currency: typeof given.goal_currency === "string" && /^[A-Z]{3}$/.test(given.goal_currency) ? given.goal_currency : DEFAULTS.goal_currency,
    goal_title: typeof given.goal_title === "string" ? given.goal_title.slice(0, 60) : DEFAULTS.goal_title,
    css: typeof given.css === "string" ? sanitizeCss(given.css.slice(0, 4000)) : "",
  };
}

export function encodeConfig(config: OverlayConfig): string {
  const bytes = new TextEncoder().encode(JSON.stringify(config));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeConfig(text: string | null): OverlayConfig {
  if (!text) return DEFAULTS;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return checked(JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)))));
  } catch {
    return DEFAULTS;
  }
}

export function overlayUrl(origin: string, streamId: string, kind: Kind, config: OverlayConfig): string {
  return `${origin}/overlay/${encodeURIComponent(streamId)}/${kind}?config=${encodeConfig(config)}`;
}

// ------------------------------------------------------------ custom CSS, a safe subset

const PROPERTIES = new Set([
  "color", "background", "background-color", "opacity", "font-family", "font-size", "font-weight", "font-style",
  "letter-spacing", "line-height", "text-align", "text-transform", "text-shadow", "text-decoration",
  "border", "border-color", "border-width", "border-style", "border-radius", "box-shadow", "outline",
  "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
  "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
  "width", "max-width", "min-width", "height", "max-height", "min-height", "gap",
  "transform", "transition", "animation-duration", "filter", "display", "justify-content", "align-items",
]);
// A value may not load anything or run anything: no url()/image-set(), no expression(), no
// escapes (which spell those in disguise), no markup, no other scheme.
const UNSAFE_VALUE = /url\s*\(|image-set|expression\s*\(|javascript:|vbscript:|data:|\\|<|>|@|behavior|binding|attr\s*\(/i;
const SAFE_SELECTOR = /^[a-z0-9\s.#:_>,+~*()[\]="'-]+$/i;

/** Custom CSS cut down to plain rules of visual declarations; everything else is dropped. */
export function sanitizeCss(css: string): string {
  const text = css.replace(/\/\*[\s\S]*?(\*\/|$)/g, "");
  const rules: string[] = [];
  let depth = 0;
  let start = 0;
  let skipping = false; // inside an @-rule (its block, nested blocks and all)
  let selector = "";
  for (let at = 0; at < text.length; at += 1) {
    const char = text[at];
    if (char === "@" && depth === 0) {
      skipping = true;
      const end = text.indexOf(";", at);
      const open = text.indexOf("{", at);
      if (end !== -1 && (open === -1 || end < open)) {
        // a statement such as @import ...; : gone, with nothing to skip after it
        skipping = false;
        at = end;
        start = end + 1;
      }
      continue;
    }
    if (char === "{") {
      if (depth === 0 && !skipping) selector = text.slice(start, at).trim();
      depth += 1;
      start = at + 1;
    } else if (char === "}") {
      depth = Math.max(0, depth - 1);
      if (depth === 0) {
        if (!skipping) {
          const body = declarations(text.slice(start, at));
          if (body && SAFE_SELECTOR.test(selector) && !/<\/|\\/.test(selector)) rules.push(`${selector} { ${body} }`);
        }
        skipping = false;
        start = at + 1;
      } else {
        start = at + 1;
      }
    }
  }
  return rules.join("\n");
}

function declarations(block: string): string {
  const kept: string[] = [];
  for (const declaration of block.split(";")) {
    const colon = declaration.indexOf(":");
    if (colon === -1) continue;
    const property = declaration.slice(0, colon).trim().toLowerCase();
    const value = declaration.slice(colon + 1).trim();
    if (!PROPERTIES.has(property) || !value || UNSAFE_VALUE.test(value) || value.length > 200) continue;
    kept.push(`${property}: ${value}`);
  }
  return kept.join("; ");
}
