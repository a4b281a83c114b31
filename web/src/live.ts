// The app's one connection to livefold, all through the SDK: REST (LivefoldClient), the live
// socket (Subscription, shared by every page) and sign-in (OAuth 2.0 code flow with PKCE against
// the gateway's own authorization server; the app is served from the gateway's origin).

import {
  DEFAULT_SCOPE,
  type Frame,
  LivefoldClient,
  OAuthClient,
  type OAuthEndpoints,
  Session,
  Subscription,
  type Tokens,
  createPkce,
  randomToken,
} from "livefold-sdk";

const ORIGIN = location.origin;
const REDIRECT_URI = `${ORIGIN}/auth/callback`;
const SIGNED_IN = "livefold.session"; // localStorage: endpoints and tokens
const SIGNING_IN = "livefold.signing-in"; // sessionStorage: PKCE verifier, state, where to return

interface Stored {
  endpoints: OAuthEndpoints;
  tokens: Tokens;
}

function restore(): Session | null {
  const text = localStorage.getItem(SIGNED_IN);
  if (text === null) return null;
  try {
    const stored = JSON.parse(text) as Stored;
    return keep(new OAuthClient(stored.endpoints), stored.tokens);
  } catch {
    localStorage.removeItem(SIGNED_IN);
    return null;
  }
}

function keep(oauth: OAuthClient, tokens: Tokens): Session {
  const save = (fresh: Tokens) => localStorage.setItem(SIGNED_IN, JSON.stringify({ endpoints: oauth.endpoints, tokens: fresh }));
  save(tokens);
  return new Session(oauth, tokens, save);
}

export let session: Session | null = restore();
export let api = new LivefoldClient(ORIGIN, { auth: session ?? undefined });

export interface Me {
  userId: string;
  name: string;
  roles: string[]; // global roles: "streamer", "admin"...
  username: string | null; // for @mentions
}

let me: Promise<Me | null> | null = null;

/** Who is signed in (null: nobody), asked once per session. */
export function whoAmI(): Promise<Me | null> {
  if (session === null) return Promise.resolve(null);
  me ??= api.me().then(
    (account) => ({
      userId: String(account.user_id ?? ""),
      name: String(account.display_name ?? account.username ?? "you"),
      roles: ((account.roles ?? []) as { role?: string }[]).map((grant) => String(grant.role ?? grant)),
      username: typeof account.username === "string" ? account.username : null,
    }),
    () => null,
  );
  return me;
}

/** Off to the authorization server; it comes back to /auth/callback. */
export async function signIn(): Promise<void> {
  const oauth = await OAuthClient.discover(ORIGIN);
  const pkce = await createPkce();
  const state = randomToken();
  const back = location.pathname + location.search;
  sessionStorage.setItem(SIGNING_IN, JSON.stringify({ verifier: pkce.verifier, state, back }));
  location.assign(oauth.authorizationUrl({ redirectUri: REDIRECT_URI, pkce, state, scope: `${DEFAULT_SCOPE} offline_access` }));
}

/** The redirect back: trade the code for tokens; returns the page to go back to. */
export async function finishSignIn(query: URLSearchParams): Promise<string> {
  const pending = JSON.parse(sessionStorage.getItem(SIGNING_IN) ?? "null") as { verifier: string; state: string; back: string } | null;
  sessionStorage.removeItem(SIGNING_IN);
  const refused = query.get("error");
  if (refused !== null) throw new Error(query.get("error_description") ?? refused);
  if (pending === null || query.get("state") !== pending.state) throw new Error("this sign-in was not started here; try again");
  const oauth = await OAuthClient.discover(ORIGIN);
  const tokens = await oauth.exchangeCode(query.get("code") ?? "", pending.verifier, REDIRECT_URI);
  session = keep(oauth, tokens);
  me = null;
  api = new LivefoldClient(ORIGIN, { auth: session });
  reconnect();
  return pending.back.startsWith("/auth/") ? "/" : pending.back;
}

export async function signOut(): Promise<void> {
  const ending = session;
  session = null;
  me = null;
  localStorage.removeItem(SIGNED_IN);
  api = new LivefoldClient(ORIGIN);
  reconnect();
  await ending?.signOut().catch(() => undefined); // signed out here either way
}

// ------------------------------------------------------------ the live socket

type Listener = (frame: Frame) => void;
const listeners = new Set<Listener>();
let socket: Subscription | null = null;

let watching = true;

/** This page is no viewer of what it follows (an OBS overlay): call before following. */
export function notWatching(): void {
  watching = false;
}

function open(): Subscription {
  const opened = new Subscription(ORIGIN, session === null ? { watching } : { auth: session, watching });
  void (async () => {
    try {
      for await (const frame of opened) for (const listener of listeners) listener(frame);
    } catch (error) {
      console.warn("live updates ended", error);
    }
  })();
  void opened.connect().catch((error) => console.warn("cannot connect", error));
  return opened;
}

function reconnect(): void {
  const old = socket;
  if (old === null) return;
  socket = open();
  for (const [streamId, channels] of old.topics) socket.subscribe(streamId, channels);
  old.close();
}

export function live(): Subscription {
  socket ??= open();
  return socket;
}

/** Hear every frame of the shared socket (e.g. `notification` frames, which come to a signed-in
 * socket whatever it follows); returns what stops it. */
export function listen(listener: Listener): () => void {
  listeners.add(listener);
  live();
  return () => void listeners.delete(listener);
}

/** Follow a stream's channels; returns what stops following. */
export function follow(streamId: string, channels: string[], listener: Listener): () => void {
  listeners.add(listener);
  live().subscribe(streamId, channels);
  return () => {
    listeners.delete(listener);
    live().unsubscribe(streamId, channels);
  };
}
