// The gateway's REST API as typed methods (fetch). A write resolves to `Accepted` (202: the
// event is in the log; the state, and subscribers, see it a moment later); a read to the
// gateway's JSON view. Times are epoch milliseconds, money in minor units (cents).
//
//   const live = new LivefoldClient("https://live.example.org", { auth: session });
//   const { stream_id } = await live.createStream({ title: "Speedrun", category: "Games" });

import type { Auth } from "./auth.js";
import type { Notification } from "./frames.js";
import { ModerationCalls } from "./moderation.js";
import { type Call, DEFAULT_RETRY, type RetryPolicy, fields, segment, send } from "./transport.js";

export type Json = Record<string, unknown>;

/** A write's answer: the event id, and the ids the gateway made. */
export interface Accepted {
  event_id: string;
  /** With `WriteOptions.wait`: what became of the write. */
  status?: "pending" | "applied" | "rejected";
  reason?: string | null;
  stream_id?: string;
  message_id?: string;
  poll_id?: string;
  question_id?: string;
  tip_id?: string;
  clip_id?: string;
  payment?: unknown;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface ChatMessage {
  message_id: string;
  author: string;
  text: string;
  reply_to: string | null;
  at: number;
  [more: string]: unknown;
}

export interface ChatHistory extends Page<ChatMessage> {
  pinned: unknown;
  from_first: boolean; // the gateway still keeps the stream's first message
}

/** A page of the whole chat (`chatScrollback`): oldest first; `next_cursor` pages back. */
export interface ChatScrollback {
  messages: ChatMessage[];
  next_cursor: string | null; // null: the page began with the stream's first message
}

export interface EventStatus {
  event_id: string;
  status: "pending" | "applied" | "rejected";
  event_type: string | null;
  reason: string | null;
}

export interface PollView {
  stream_id: string;
  poll_id: string;
  question: string;
  status: string;
  voters: number;
  options: { option_id: string; text: string; votes: number; percent: number }[];
  [more: string]: unknown;
}

/** What anyone may read of a user: null names once the account is deleted (or unknown). */
export interface Profile {
  user_id: string;
  username: string | null;
  display_name: string | null;
}

/** A stream's engagement per bucket, from ClickHouse (`analytics`). */
export interface Analytics {
  stream_id: string;
  bucket: "minute" | "hour";
  bucket_ms: number;
  points: { at: number; viewers: number; chatters: number; messages: number; reactions: number; votes: number; tips: number }[];
  totals: Record<string, number>;
  tips_by_currency: Record<string, number>;
  as_of: number;
}

/** Where the media service takes video (WHIP, RTMP) and serves it (WHEP, HLS); `{stream_id}` templates. */
export interface MediaEndpoints {
  whip: string;
  whep: string;
  hls: string;
  rtmp: string;
}

/** A clip: `status` "processing" until the media service cut it, then "ready" or "failed". */
export interface Clip {
  clip_id: string;
  stream_id: string;
  recording_id: string;
  title: string | null;
  start_offset_ms: number;
  end_offset_ms: number;
  status: "processing" | "ready" | "failed";
  duration_ms?: number;
  reason?: string;
  url: string;
  video_url?: string;
  thumbnail_url?: string;
  [more: string]: unknown;
}

/** A recording: its duration and its HLS VOD playlist (relative to the gateway). */
export interface Vod {
  recording_id: string;
  stream_id: string;
  duration_ms: number;
  playlist_url: string;
  [more: string]: unknown;
}

/** One moment of a chat replay, `offset_ms` after the recording's start. */
export type ReplayItem = { offset_ms: number; at: number } & (
  | { type: "message"; message: ChatMessage }
  | { type: "reaction"; kind: string; count: number }
  | { type: "poll"; poll: PollView }
);

export interface Replay extends Page<ReplayItem> {
  /** The recording's start, epoch ms: `at - origin === offset_ms`. */
  origin: number;
}

/** A clip's range: ms into a recording, or the last `last_ms` (5000..60000) of the live stream. */
export type ClipRange =
  | { start_offset_ms: number; end_offset_ms: number; recording_id?: string }
  | { last_ms: number };

export interface WriteOptions {
  /** Your own key, to make a write idempotent across your own retries (default: one per call). */
  idempotencyKey?: string;
  /** Wait up to this many seconds for the write's outcome (`Prefer: wait`, RFC 7240): the answer
   * then also holds `status` ("applied" | "rejected", or "pending" if the folds took longer),
   * `reason` and `event_type`. The gateway caps the wait (docs/gateway.md). */
  wait?: number;
}

/** A write's answer when it waited for its outcome (`WriteOptions.wait`). */
export interface NotificationList {
  notifications: Notification[];
  /** The streams you follow. */
  following: string[];
}

export interface ClientOptions {
  auth?: Auth;
  retry?: Partial<RetryPolicy>;
}

export type Options = Record<string, string> | string[];

/** Poll or quiz options: texts (ids "1", "2"... are made) or {option id: text}. */
export function choices(options: Options): { option_id: string; text: string }[] {
  const pairs = Array.isArray(options) ? options.map((text, index) => [String(index + 1), text]) : Object.entries(options);
  return pairs.map(([optionId, text]) => ({ option_id: String(optionId), text: String(text) }));
}

export type QuizQuestion = { question: string; options: Options; correct_option: string; points?: number; time_limit_seconds?: number };

function questionBody(question: QuizQuestion): Json {
  return { points: 1, time_limit_seconds: 30, ...question, options: choices(question.options) };
}

const stream = (id: string) => `/streams/${segment(id)}`;

export class LivefoldClient extends ModerationCalls {
  readonly baseUrl: string;
  auth: Auth;
  readonly retry: RetryPolicy;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    super();
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.auth = options.auth;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  /** Any call the typed methods do not cover, with the same auth, keys and retries. */
  request<T = unknown>(call: Call): Promise<T> {
    return send(this.baseUrl, this.auth, call, this.retry) as Promise<T>;
  }

  protected override write(method: Call["method"], path: string, body: Json, options: WriteOptions = {}): Promise<Accepted> {
    const call: Call = { method, path, body: fields(body), write: true };
    if (options.idempotencyKey !== undefined) call.idempotencyKey = options.idempotencyKey;
    if (options.wait !== undefined) call.wait = options.wait;
    return this.request<Accepted>(call);
  }

  protected override read<T = Json>(path: string, query?: Call["query"]): Promise<T> {
    const call: Call = { method: "GET", path };
    if (query !== undefined) call.query = query;
    return this.request<T>(call);
  }

  // ------------------------------------------------------------ accounts

  register(account: { username: string; password: string; display_name: string; email: string }): Promise<Json> {
    return this.request<Json>({ method: "POST", path: "/accounts", body: account });
  }

  me(): Promise<Json> {
    return this.read("/accounts/me");
  }

  /** Public names of users by id (1..100 ids), to show instead of the ids chat and streams carry. */
  profiles(userIds: string[]): Promise<{ items: Profile[] }> {
    return this.read("/profiles", { ids: userIds.join(",") });
  }

  // ------------------------------------------------------------ streams

  createStream(
    stream: { title: string; category: string; tags?: string[]; scheduled_start?: number; language?: string },
    options?: WriteOptions,
  ): Promise<Accepted & { stream_id: string }> {
    return this.write("POST", "/streams", stream, options) as Promise<Accepted & { stream_id: string }>;
  }

  goLive(streamId: string, ingestId?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/live`, { ingest_id: ingestId }, options);
  }

  endStream(streamId: string, reason?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/end`, { reason }, options);
  }

  /** Change title, category, tags, language, chat_modes or reactions_enabled. */
  changeStream(streamId: string, settings: Json, options?: WriteOptions): Promise<Accepted> {
    return this.write("PATCH", stream(streamId), settings, options);
  }

  listStreams(
    // with streamer and no status: that streamer's streams of every status, live first
    query: { status?: "live" | "scheduled" | "ended"; streamer?: string; q?: string; category?: string; tag?: string; limit?: number; cursor?: string } = {},
  ): Promise<Page<Json>> {
    return this.read("/streams", query);
  }

  stream(streamId: string): Promise<Json> {
    return this.read(stream(streamId));
  }

  // ------------------------------------------------------------ chat

  /** Send a message (`message_id` comes back); it shows once moderation allows it. */
  sendChat(
    streamId: string,
    text: string,
    extra: { reply_to?: string; emotes?: Json[] } = {},
    options?: WriteOptions,
  ): Promise<Accepted & { message_id: string }> {
    const body = { text, ...extra };
    return this.write("POST", `${stream(streamId)}/chat`, body, options) as Promise<Accepted & { message_id: string }>;
  }

  deleteChat(streamId: string, messageId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", `${stream(streamId)}/chat/${segment(messageId)}`, {}, options);
  }

  pinMessage(streamId: string, messageId: string, until?: number, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/chat/${segment(messageId)}/pin`, { until }, options);
  }

  unpinMessage(streamId: string, messageId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", `${stream(streamId)}/chat/${segment(messageId)}/pin`, {}, options);
  }

  /** Recent messages, oldest first; page back with next_cursor. */
  chatHistory(streamId: string, query: { cursor?: string; limit?: number } = {}): Promise<ChatHistory> {
    return this.read(`${stream(streamId)}/chat`, query);
  }

  /** The whole chat, past the recent messages `chatHistory` pages through: the page just before
   * `before` (without it, the newest), as the live chat shows it; `next_cursor` is the next `before`. */
  chatScrollback(streamId: string, query: { before?: string; limit?: number } = {}): Promise<ChatScrollback> {
    return this.read(`${stream(streamId)}/chat/history`, query);
  }

  // ------------------------------------------------------------ reactions

  react(streamId: string, kind: string, count = 1, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/reactions`, { kind, count }, options);
  }

  reactions(streamId: string): Promise<Json> {
    return this.read(`${stream(streamId)}/reactions`);
  }

  // ------------------------------------------------------------ polls

  /** Create a poll (`poll_id` comes back); open it to start the vote. */
  createPoll(
    streamId: string,
    poll: { question: string; options: Options; duration_seconds: number; multi_select?: boolean; allow_vote_change?: boolean },
    options?: WriteOptions,
  ): Promise<Accepted & { poll_id: string }> {
    const body = { ...poll, options: choices(poll.options) };
    return this.write("POST", `${stream(streamId)}/polls`, body, options) as Promise<Accepted & { poll_id: string }>;
  }

  openPoll(streamId: string, pollId: string, closesAt?: number, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/polls/${segment(pollId)}/open`, { closes_at: closesAt }, options);
  }

  closePoll(streamId: string, pollId: string, reason?: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/polls/${segment(pollId)}/close`, { reason }, options);
  }

  vote(streamId: string, pollId: string, optionIds: string | string[], options?: WriteOptions): Promise<Accepted> {
    const chosen = typeof optionIds === "string" ? [optionIds] : optionIds;
    return this.write("POST", `${stream(streamId)}/polls/${segment(pollId)}/votes`, { option_ids: chosen }, options);
  }

  polls(streamId: string): Promise<{ items: PollView[] }> {
    return this.read(`${stream(streamId)}/polls`);
  }

  /** A poll's status, options with votes and percentages, voters. */
  poll(streamId: string, pollId: string): Promise<PollView> {
    return this.read(`${stream(streamId)}/polls/${segment(pollId)}`);
  }

  // ------------------------------------------------------------ what became of a write

  /** What became of an event you wrote (the `event_id` of its 202), on any gateway (pending: on
   * the one that accepted it). To wait for it instead, write with `{ wait: seconds }`. */
  eventStatus(eventId: string): Promise<EventStatus> {
    return this.read(`/events/${segment(eventId)}`);
  }

  // ------------------------------------------------------------ notifications

  /** Your notifications, newest first (`before`: epoch ms, to page back), and the streams you
   * follow (docs/notifications.md). */
  notifications(query: { limit?: number; before?: number } = {}): Promise<NotificationList> {
    return this.read("/notifications", query);
  }

  /** The applicationServerKey for `pushManager.subscribe`. */
  vapidPublicKey(): Promise<{ public_key: string }> {
    return this.read("/notifications/vapid-public-key");
  }

  /** Deliver your notifications by Web Push to this PushSubscription (`subscription.toJSON()`). */
  registerPushSubscription(
    subscription: { endpoint: string; keys: { p256dh: string; auth: string } },
    options?: WriteOptions,
  ): Promise<Accepted> {
    const { endpoint, keys } = subscription;
    const body = { endpoint, p256dh: keys.p256dh, auth: keys.auth };
    return this.write("POST", "/notifications/push-subscriptions", body, options);
  }

  unregisterPushSubscription(endpoint: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", "/notifications/push-subscriptions", { endpoint }, options);
  }

  /** POST your notifications (of `kinds`; none: every kind) to `url`, signed with the `secret`
   * that comes back. */
  registerWebhook(url: string, kinds: string[] = [], options?: WriteOptions): Promise<Accepted & { webhook_id: string; secret: string }> {
    return this.write("POST", "/notifications/webhooks", { url, kinds }, options) as Promise<Accepted & { webhook_id: string; secret: string }>;
  }

  removeWebhook(webhookId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", `/notifications/webhooks/${segment(webhookId)}`, {}, options);
  }

  // ------------------------------------------------------------ quizzes

  /** Start a quiz with its first question: `quiz_id` and `question_id` come back, made by the
   * gateway as a poll's id is. Pose the next ones with `poseQuestion`. */
  createQuiz(
    streamId: string,
    question: QuizQuestion,
    options?: WriteOptions,
  ): Promise<Accepted & { quiz_id: string; question_id: string }> {
    const path = `${stream(streamId)}/quizzes`;
    return this.write("POST", path, questionBody(question), options) as Promise<Accepted & { quiz_id: string; question_id: string }>;
  }

  /** Pose a question of quiz `quizId`. Deprecated for a new quiz: a quiz id of your own
   * choosing still works for now, but start a quiz with `createQuiz`, which makes its id. */
  poseQuestion(
    streamId: string,
    quizId: string,
    question: QuizQuestion,
    options?: WriteOptions,
  ): Promise<Accepted & { question_id: string }> {
    const path = `${stream(streamId)}/quizzes/${segment(quizId)}/questions`;
    return this.write("POST", path, questionBody(question), options) as Promise<Accepted & { question_id: string }>;
  }

  answerQuiz(streamId: string, quizId: string, questionId: string, optionId: string, options?: WriteOptions): Promise<Accepted> {
    const path = `${stream(streamId)}/quizzes/${segment(quizId)}/questions/${segment(questionId)}/answers`;
    return this.write("POST", path, { option_id: optionId }, options);
  }

  revealAnswer(streamId: string, quizId: string, questionId: string, correctOption: string, options?: WriteOptions): Promise<Accepted> {
    const path = `${stream(streamId)}/quizzes/${segment(quizId)}/questions/${segment(questionId)}/reveal`;
    return this.write("POST", path, { correct_option: correctOption }, options);
  }

  /** The stream's quiz questions and leaderboards, as views (each with its `kind`, `quiz_id`...),
   * as `polls` lists polls. */
  quizzes(streamId: string): Promise<{ items: Json[] }> {
    return this.read(`${stream(streamId)}/quizzes`);
  }

  leaderboard(streamId: string, quizId: string): Promise<Json> {
    return this.read(`${stream(streamId)}/quizzes/${segment(quizId)}`);
  }

  // ------------------------------------------------------------ tips and follows

  /** Start a tip: `tip_id` and the payment step (`payment`) come back. */
  tip(
    streamId: string,
    tip: { amount_minor: number; currency: string; message?: string },
    options?: WriteOptions,
  ): Promise<Accepted & { tip_id: string }> {
    return this.write("POST", `${stream(streamId)}/tips`, tip, options) as Promise<Accepted & { tip_id: string }>;
  }

  /** Pay a started tip with a test card (the sandbox provider only: `payment.next_action.type`
   * is "sandbox_pay"); answers once the gateway has the payment's outcome. A declined card
   * answers `status` "failed" with its `decline_code`. */
  paySandbox(clientSecret: string, cardNumber: string): Promise<{ reference: string; status: string; decline_code: string | null }> {
    return this.request({ method: "POST", path: "/payments/sandbox/pay", body: { client_secret: clientSecret, card_number: cardNumber } });
  }

  mediaEndpoints(): Promise<MediaEndpoints> {
    return this.read("/media-endpoints");
  }

  tips(streamId: string): Promise<Json> {
    return this.read(`${stream(streamId)}/tips`);
  }

  /** The stream's tips, latest started first (the streamer, admins): status, amount, refunds. */
  tipRecords(streamId: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<Json>> {
    return this.read(`${stream(streamId)}/tip-records`, query);
  }

  /** One tip's record (status, refunds): for its supporter, the streamer and admins. */
  tipRecord(streamId: string, tipId: string): Promise<Json> {
    return this.read(`${stream(streamId)}/tips/${segment(tipId)}`);
  }

  /** Refund a captured tip through its provider (the streamer, admins); no amount: all that is left. */
  refundTip(
    streamId: string,
    tipId: string,
    refund: { amount_minor?: number; reason?: string } = {},
    options?: WriteOptions,
  ): Promise<Accepted & { tip_id: string; amount_minor: number; currency: string; provider: string }> {
    const path = `${stream(streamId)}/tips/${segment(tipId)}/refund`;
    return this.write("POST", path, refund, options) as Promise<Accepted & { tip_id: string; amount_minor: number; currency: string; provider: string }>;
  }

  // ------------------------------------------------------------ the streamer's studio

  /** A new stream key for the caller (streamers): shown once; the previous key stops working.
   * Not retried: a retry would rotate again. */
  rotateStreamKey(): Promise<{ event_id: string; key_id: string; stream_key: string }> {
    return this.request({ method: "POST", path: "/stream-key" });
  }


  /** Engagement per minute or hour from ClickHouse (the streamer, moderators, admins). */
  analytics(streamId: string, bucket: "minute" | "hour" = "minute"): Promise<Analytics> {
    return this.read(`${stream(streamId)}/analytics`, { bucket });
  }

  /** Who is on stage; the invitations, for the streamer and moderators (a guest: their own). */
  guests(streamId: string): Promise<Json> {
    return this.read(`${stream(streamId)}/guests`);
  }

  /** Invite a user to co-stream (the streamer); `invite_id` comes back. */
  inviteGuest(streamId: string, guestId: string, expiresAt?: number, options?: WriteOptions): Promise<Accepted & { invite_id: string }> {
    const body = { guest_id: guestId, expires_at: expiresAt };
    return this.write("POST", `${stream(streamId)}/guests`, body, options) as Promise<Accepted & { invite_id: string }>;
  }

  /** The guest's own steps: accept the invitation, join the stage, leave it. */
  guestStep(streamId: string, inviteId: string, step: "accept" | "join" | "leave", options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/guests/${segment(inviteId)}/${step}`, {}, options);
  }

  /** Mute or unmute a guest's audio on stage (the streamer), while the invitation is open. */
  muteGuest(streamId: string, inviteId: string, muted = true, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/guests/${segment(inviteId)}/mute`, { muted }, options);
  }

  /** Take a guest off the stage (the streamer). */
  removeGuest(streamId: string, inviteId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("POST", `${stream(streamId)}/guests/${segment(inviteId)}/remove`, {}, options);
  }

  // ------------------------------------------------------------ clips, VODs, chat replay

  /** Cut a clip; it plays once `clip(clip_id).status` is "ready". */
  createClip(streamId: string, title: string, range: ClipRange, options?: WriteOptions): Promise<Accepted & { clip_id: string }> {
    const body = { title, ...range };
    return this.write("POST", `${stream(streamId)}/clips`, body, options) as Promise<Accepted & { clip_id: string }>;
  }

  /** A clip by id (the shareable address), with its video and thumbnail URLs once ready. */
  clip(clipId: string): Promise<Clip> {
    return this.read(`/clips/${segment(clipId)}`);
  }

  clips(streamId: string, query: { cursor?: string; limit?: number } = {}): Promise<Page<Clip>> {
    return this.read(`${stream(streamId)}/clips`, query);
  }

  /** Finished recordings (VODs), newest first, with `duration_ms` and `playlist_url`. */
  recordings(streamId: string, query: { cursor?: string; limit?: number } = {}): Promise<Page<Vod>> {
    return this.read(`${stream(streamId)}/vods`, query);
  }

  recording(streamId: string, recordingId: string): Promise<Vod> {
    return this.read(`${stream(streamId)}/vods/${segment(recordingId)}`);
  }

  /** Chat, reactions and polls of a recording at their offsets; page with `next_cursor`. */
  replay(
    streamId: string,
    query: { recording_id?: string; from_ms?: number; to_ms?: number; cursor?: string; limit?: number } = {},
  ): Promise<Replay> {
    return this.read(`${stream(streamId)}/replay`, query);
  }

  follow(streamId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("PUT", `${stream(streamId)}/follow`, {}, options);
  }

  unfollow(streamId: string, options?: WriteOptions): Promise<Accepted> {
    return this.write("DELETE", `${stream(streamId)}/follow`, {}, options);
  }
}
