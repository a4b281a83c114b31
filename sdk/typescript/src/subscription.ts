// A live subscription to the gateway's /ws: subscribe to streams' channels and iterate their
// frames; heartbeats keep the connection honest and it comes back by itself.
//
//   const live = new Subscription("https://live.example.org", { auth: session });
//   await live.connect();
//   live.subscribe(streamId, ["chat", "polls"]);
//   for await (const frame of live) { ... }
//
// After a drop (network, gateway restart, a silent peer caught by the heartbeat, 4408 for a
// slow reader, 4429, 4503) it reconnects with backoff, signs in again (refreshing the token once
// if the gateway refused it) and subscribes again from the last cursor it saw per (stream,
// channel): the gateway sends what was missed, then live frames. A bad frame (4400), a token
// refused after a refresh (4401) or running out of attempts ends it with SubscriptionClosed.
// A socket lives as long as its token: before it expires the gateway says so (`expiring`) and the
// subscription signs the same socket in again with a fresh token, from `tokenProvider` (a
// function returning an access token, or a promise of one; it is also asked on every connect)
// or else from a refreshable `auth` (a Session). Subscriptions and writes carry on; a
// moderator-only channel whose right is lost ends with a `refusal` (op "subscribe", or "auth"
// when a refresh finds it).
// The same socket carries the interactive writes (send, sendChat, react, vote, answerQuiz):
// each resolves once the event is in Kafka; a write a fold refuses later comes back as a
// `rejected` frame.
// Browsers use the native WebSocket; Node (no global WebSocket before 22) the `ws` package.

import type { Auth } from "./auth.js";
import type { Accepted } from "./client.js";
import { OAuthError, SubscriptionClosed } from "./errors.js";
import { type Frame, parseFrame } from "./frames.js";
import { PendingWrites, type SendOptions, type SocketWrite, writeFrame } from "./writes.js";

const BAD_FRAME = 4400;
const AUTH_FAILED = 4401;
const RATE_LIMITED = 4429;
const FATAL = new Set([BAD_FRAME, 1002, 1003, 1007, 1008, 1009]);
const FRAMES_PER_SECOND = 15; // below the gateway's per-connection frame limit

/** The part of a WebSocket this client uses (the DOM's and the `ws` package's both have it). */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate?: () => void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike | Promise<SocketLike>;

/** Where a socket gets its access tokens: asked on every connect and before each token expires. */
export type TokenProvider = () => string | Promise<string>;

export interface SubscriptionOptions {
  auth?: Auth;
  /** Fresh access tokens for the socket (takes precedence over `auth` on the socket). */
  tokenProvider?: TokenProvider;
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  maxAttempts?: number;
  openTimeoutMs?: number;
  /** How to open a socket (default: the native WebSocket, else the `ws` package). */
  socket?: SocketFactory;
  /** false: this socket's subscriptions are no viewer of the stream (an OBS overlay, a bot). */
  watching?: boolean;
}

export function wsUrl(url: string): string {
  if (/^wss?:\/\//.test(url)) return url;
  if (/^https?:\/\//.test(url)) return `ws${url.slice(4).replace(/\/+$/, "")}/ws`;
  throw new TypeError(`not a gateway URL: ${url} (http(s):// or ws(s)://)`);
}

async function defaultSocket(url: string): Promise<SocketLike> {
  const native = (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
  if (native !== undefined) return new native(url);
  const { WebSocket } = await import("ws");
  return new WebSocket(url, { perMessageDeflate: true, maxPayload: 16 * 2 ** 20 }) as unknown as SocketLike;
}

interface Waiter {
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
}

export class Subscription implements AsyncIterable<Frame> {
  readonly url: string;
  readonly topics = new Map<string, string[]>();
  /** The last cursor seen, by stream and channel: persist it to resume in a later process. */
  readonly cursors: Record<string, Record<string, string>> = {};
  user: string | null = null;
  reconnects = 0;

  /** When the socket's token expires (epoch seconds); null when anonymous. */
  expiresAt: number | null = null;

  private readonly options: Required<Omit<SubscriptionOptions, "auth" | "maxAttempts" | "tokenProvider" | "watching">> & SubscriptionOptions;
  private socket: SocketLike | null = null;
  private ready = false;
  private started = false;
  private queue: Frame[] = [];
  private waiters: Waiter[] = [];
  private upWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private ended: SubscriptionClosed | null | undefined = undefined; // null: closed by us
  private failures = 0;
  private wasUp = false;
  private refreshNext = false;
  private lastClose: { code: number | null; reason: string } = { code: null, reason: "" };
  private pingId = 0;
  private tokenHeld: string | null = null;
  private refreshing = false;
  private readonly writes = new PendingWrites();
  private timers: { beat?: ReturnType<typeof setInterval>; pong?: ReturnType<typeof setTimeout>; open?: ReturnType<typeof setTimeout>; retry?: ReturnType<typeof setTimeout> } = {};

  constructor(url: string, options: SubscriptionOptions = {}) {
    this.url = wsUrl(url);
    this.options = {
      heartbeatMs: 15_000,
      heartbeatTimeoutMs: 10_000,
      backoffMs: 250,
      maxBackoffMs: 10_000,
      openTimeoutMs: 10_000,
      socket: defaultSocket,
      ...options,
    };
  }

  // ------------------------------------------------------------ public

  /** Connect (retrying like a reconnect); rejects with SubscriptionClosed if that fails for good. */
  async connect(): Promise<void> {
    if (this.ended !== undefined) throw this.ended ?? new SubscriptionClosed(1000, "closed by the client");
    if (this.ready) return;
    const up = new Promise<void>((resolve, reject) => this.upWaiters.push({ resolve, reject }));
    if (!this.started) {
      this.started = true;
      void this.open();
    }
    await up;
  }

  /** Follow a stream's channels (from `cursors`, channel -> cursor, if given). */
  subscribe(streamId: string, channels: string[], cursors: Record<string, string> = {}): void {
    const wanted = this.topics.get(streamId) ?? [];
    for (const channel of channels) if (!wanted.includes(channel)) wanted.push(channel);
    this.topics.set(streamId, wanted);
    for (const [channel, cursor] of Object.entries(cursors)) this.remember(streamId, channel, cursor);
    if (this.ready) this.sendFrame(this.subscribeFrame(streamId, channels));
  }

  unsubscribe(streamId: string, channels: string[]): void {
    const left = (this.topics.get(streamId) ?? []).filter((channel) => !channels.includes(channel));
    if (left.length) this.topics.set(streamId, left);
    else this.topics.delete(streamId);
    for (const channel of channels) delete this.cursors[streamId]?.[channel];
    if (this.ready) this.sendFrame({ op: "unsubscribe", stream: streamId, channels });
  }

  /**
   * One write over the socket (path ids such as `poll_id` go in `body`), resolved once Kafka has
   * the event. `options.ref` is its idempotency key (one is made): a write whose connection drops
   * is sent again after the reconnect and makes the same event. Rejects with the ApiError REST
   * would throw (422 with its fields, 401 when not signed in, 429...), a TimeoutError, or
   * SubscriptionClosed.
   */
  send(write: SocketWrite, streamId: string, body: Record<string, unknown> = {}, options: SendOptions = {}): Promise<Accepted> {
    if (this.ended !== undefined) return Promise.reject(this.ended ?? new SubscriptionClosed(1000, "closed by the client"));
    const frame = writeFrame(options.ref ?? crypto.randomUUID(), write, streamId, body);
    const answer = this.writes.add(frame, options.timeoutMs ?? 30_000);
    if (this.ready) this.sendFrame(frame); // else the next connection sends it
    return answer;
  }

  /** A chat message; `replyTo` a message id, `emotes` [{name, positions: [{start, end}]}]. */
  sendChat(streamId: string, text: string, options: SendOptions & { replyTo?: string; emotes?: Record<string, unknown>[] } = {}): Promise<Accepted> {
    const body: Record<string, unknown> = { text };
    if (options.replyTo !== undefined) body.reply_to = options.replyTo;
    if (options.emotes !== undefined && options.emotes.length > 0) body.emotes = options.emotes;
    return this.send("chat.send", streamId, body, options);
  }

  react(streamId: string, kind: string, count = 1, options: SendOptions = {}): Promise<Accepted> {
    return this.send("reactions.send", streamId, { kind, count }, options);
  }

  vote(streamId: string, pollId: string, optionIds: string | string[], options: SendOptions = {}): Promise<Accepted> {
    const chosen = typeof optionIds === "string" ? [optionIds] : optionIds;
    return this.send("polls.vote", streamId, { poll_id: pollId, option_ids: chosen }, options);
  }

  answerQuiz(streamId: string, quizId: string, questionId: string, optionId: string, options: SendOptions = {}): Promise<Accepted> {
    return this.send("quizzes.answer", streamId, { quiz_id: quizId, question_id: questionId, option_id: optionId }, options);
  }

  /** The next frame; rejects with SubscriptionClosed at the end, TimeoutError after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Frame> {
    const frame = this.queue.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.ended !== undefined) return Promise.reject(this.ended ?? new SubscriptionClosed(1000, "closed by the client"));
    return new Promise<Frame>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          const error = new Error(`no frame within ${timeoutMs} ms`);
          error.name = "TimeoutError";
          reject(error);
        }, timeoutMs);
        waiter.resolve = (value) => (clearTimeout(timer), resolve(value));
        waiter.reject = (error) => (clearTimeout(timer), reject(error));
      }
      this.waiters.push(waiter);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    return {
      next: async () => {
        try {
          return { value: await this.next(), done: false };
        } catch (error) {
          if (error instanceof SubscriptionClosed && this.ended === null) return { value: undefined, done: true };
          throw error;
        }
      },
    };
  }

  close(): void {
    const socket = this.socket;
    this.finish(null);
    if (socket !== null) {
      this.detach(socket);
      socket.close(1000, "bye");
    }
  }

  // ------------------------------------------------------------ the connection

  private async open(): Promise<void> {
    let socket: SocketLike;
    try {
      socket = await this.options.socket(this.url);
    } catch (error) {
      this.dropped(null, `cannot connect: ${String(error)}`);
      return;
    }
    if (this.ended !== undefined) {
      socket.close(1000, "bye");
      return;
    }
    this.socket = socket;
    this.ready = false;
    this.timers.open = setTimeout(() => this.abandon(socket, "timed out opening"), this.options.openTimeoutMs);
    socket.onmessage = (event) => {
      if (socket === this.socket) void this.received(socket, event.data);
    };
    socket.onclose = (event) => {
      if (socket === this.socket) this.dropped(event.code === 1006 ? null : event.code, event.reason || "connection lost");
    };
    socket.onerror = () => {}; // a close event follows
  }

  private async received(socket: SocketLike, data: unknown): Promise<void> {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(typeof data === "string" ? data : String(data)) as Record<string, unknown>;
    } catch {
      return; // the gateway only sends JSON; anything else is not ours to read
    }
    switch (doc.type) {
      case "welcome": {
        this.user = typeof doc.user === "string" ? doc.user : null;
        this.expiresAt = typeof doc.expires_at === "number" ? doc.expires_at : null;
        let token: string | undefined;
        try {
          token = await this.socketToken(this.refreshNext);
        } catch (error) {
          // A refused refresh needs a new sign-in; an unreachable auth server, another try.
          if (error instanceof OAuthError) {
            this.abandon(socket, `no token: ${error.message}`);
            return this.finish(new SubscriptionClosed(AUTH_FAILED, `no token: ${error.message}`));
          }
          return this.abandon(socket, `no token: ${String(error)}`);
        }
        if (token === undefined) return this.becomeReady(socket); // anonymous
        this.tokenHeld = token;
        if (socket === this.socket) socket.send(JSON.stringify({ op: "auth", token }));
        return;
      }
      case "authenticated": // signed in, or a refresh taken
        this.user = typeof doc.user === "string" ? doc.user : null;
        this.expiresAt = typeof doc.expires_at === "number" ? doc.expires_at : null;
        if (!this.ready) this.becomeReady(socket);
        return;
      case "expiring":
        return void this.refresh(socket);
      case "pong":
        if (doc.id === this.pingId) clearTimeout(this.timers.pong), (this.timers.pong = undefined);
        return;
    }
    if (this.writes.take(doc)) return;
    const frame = parseFrame(doc);
    if (frame === null) return;
    if ((frame.type === "snapshot" || frame.type === "batch") && frame.cursor) {
      this.remember(frame.stream, frame.channel, frame.cursor);
    }
    if (frame.type === "refusal" && (frame.op === "subscribe" || frame.op === "auth") && frame.stream !== undefined) {
      // Not allowed now (or no longer, after a refresh), not after a reconnect: stop asking.
      const wanted = this.topics.get(frame.stream) ?? [];
      this.topics.set(frame.stream, wanted.filter((channel) => channel !== frame.channel));
    }
    this.push(frame);
  }

  private becomeReady(socket: SocketLike): void {
    clearTimeout(this.timers.open);
    this.ready = true;
    this.refreshNext = false;
    if (this.wasUp) {
      this.reconnects += 1;
      this.push({ type: "reconnected", attempts: this.failures + 1, ...this.lastClose });
    }
    this.wasUp = true;
    this.failures = 0;
    const again = [...this.topics.entries()].map(([streamId, channels]) => this.subscribeFrame(streamId, channels));
    [...again, ...this.writes.frames()].forEach((frame, index) => {
      const delay = index < FRAMES_PER_SECOND ? 0 : (index * 1000) / FRAMES_PER_SECOND;
      if (delay === 0) socket.send(JSON.stringify(frame));
      else setTimeout(() => socket === this.socket && socket.send(JSON.stringify(frame)), delay);
    });
    this.timers.beat = setInterval(() => this.beat(socket), this.options.heartbeatMs);
    for (const waiter of this.upWaiters.splice(0)) waiter.resolve();
  }

  /**
   * Sign the socket in again with a fresh token before its own expires. If none comes, the
   * gateway closes the socket at expiry (4401) and the reconnect asks again.
   */
  private async refresh(socket: SocketLike): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const token = await this.freshToken();
      if (token === null || token === this.tokenHeld || socket !== this.socket) return;
      this.tokenHeld = token;
      socket.send(JSON.stringify({ op: "auth", token }));
    } catch {
      // no fresh token now: the close at expiry and the reconnect follow
    } finally {
      this.refreshing = false;
    }
  }

  private async socketToken(refresh: boolean): Promise<string | undefined> {
    const { auth, tokenProvider } = this.options;
    if (tokenProvider !== undefined) return tokenProvider();
    return typeof auth === "object" ? auth.accessToken(refresh) : auth;
  }

  private async freshToken(): Promise<string | null> {
    const { auth, tokenProvider } = this.options;
    if (tokenProvider !== undefined) return tokenProvider();
    if (auth === undefined || typeof auth === "string" || !auth.refreshable) return null;
    const token = await auth.accessToken(false);
    return token === this.tokenHeld ? auth.accessToken(true) : token; // the session must refresh now
  }

  /** A ping op every heartbeatMs; no pong in time means the link is dead. */
  private beat(socket: SocketLike): void {
    if (this.timers.pong !== undefined) return; // still waiting for the last one
    this.pingId += 1;
    socket.send(JSON.stringify({ op: "ping", id: this.pingId }));
    this.timers.pong = setTimeout(() => this.abandon(socket, "connection lost: no pong"), this.options.heartbeatTimeoutMs);
  }

  private abandon(socket: SocketLike, reason: string): void {
    if (socket !== this.socket) return;
    this.detach(socket);
    if (socket.terminate) socket.terminate();
    else socket.close(4000, reason);
    this.dropped(null, reason);
  }

  private dropped(code: number | null, reason: string): void {
    this.socket = null;
    this.ready = false;
    this.stopTimers();
    if (this.ended !== undefined) return;
    this.failures += 1;
    if (code !== null && FATAL.has(code)) return this.finish(new SubscriptionClosed(code, reason));
    let delay: number | null = null;
    if (code === AUTH_FAILED) {
      const { auth, tokenProvider } = this.options;
      const refreshable = tokenProvider !== undefined || (auth !== undefined && typeof auth !== "string" && auth.refreshable);
      if (this.refreshNext || !refreshable) return this.finish(new SubscriptionClosed(code, reason));
      this.refreshNext = true;
      delay = 0;
    }
    const max = this.options.maxAttempts;
    if (max !== undefined && this.failures >= max) {
      return this.finish(new SubscriptionClosed(code, `gave up after ${this.failures} attempts: ${reason}`));
    }
    this.lastClose = { code, reason };
    delay ??= this.backoff(code, reason);
    this.timers.retry = setTimeout(() => void this.open(), delay);
  }

  private backoff(code: number | null, reason: string): number {
    let wait = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** Math.max(this.failures - 1, 0));
    const told = code === RATE_LIMITED ? /retry in (\d+)s/.exec(reason) : null;
    if (told) wait = Math.max(wait, Number(told[1]) * 1000);
    return wait * (0.8 + Math.random() * 0.4); // jitter
  }

  // ------------------------------------------------------------ helpers

  private subscribeFrame(streamId: string, channels: string[]): Record<string, unknown> {
    const frame: Record<string, unknown> = { op: "subscribe", stream: streamId, channels };
    const held = this.cursors[streamId] ?? {};
    const cursors = Object.fromEntries(channels.filter((c) => held[c] !== undefined).map((c) => [c, held[c]]));
    if (Object.keys(cursors).length) frame.cursors = cursors;
    if (this.options.watching === false) frame.watching = false;
    return frame;
  }

  private sendFrame(frame: Record<string, unknown>): void {
    try {
      this.socket?.send(JSON.stringify(frame));
    } catch {
      // the connection is going; the next one subscribes from `topics`
    }
  }

  private remember(streamId: string, channel: string, cursor: string): void {
    (this.cursors[streamId] ??= {})[channel] = cursor;
  }

  private push(frame: Frame): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(frame);
    else this.queue.push(frame);
  }

  private detach(socket: SocketLike): void {
    socket.onmessage = socket.onclose = socket.onerror = null;
    if (socket === this.socket) this.socket = null;
    this.ready = false;
    this.stopTimers();
  }

  private stopTimers(): void {
    clearInterval(this.timers.beat);
    clearTimeout(this.timers.pong);
    clearTimeout(this.timers.open);
    clearTimeout(this.timers.retry);
    this.timers = {};
  }

  private finish(error: SubscriptionClosed | null): void {
    if (this.ended !== undefined) return;
    this.ended = error;
    this.stopTimers();
    const failure = error ?? new SubscriptionClosed(1000, "closed by the client");
    this.writes.fail(failure);
    for (const waiter of [...this.waiters.splice(0), ...this.upWaiters.splice(0)]) waiter.reject(failure);
  }
}
