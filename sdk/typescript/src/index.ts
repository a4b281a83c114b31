// livefold's TypeScript SDK: sign in (OAuth 2.0 + PKCE), call the REST API, follow streams live
// over WebSockets with auto-reconnect and resume. Typed events generated from the Avro schemas
// are in ./events.js; Node-only helpers (loopback sign-in) in "livefold-sdk/node".

export { type Auth, DEFAULT_CLIENT_ID, DEFAULT_SCOPE, OAuthClient, type OAuthEndpoints, Session, type TokenSource, type Tokens } from "./auth.js";
export { type Accepted, type Analytics, type ChatHistory, type ChatMessage, type ChatScrollback, type Clip, type ClipRange, type ClientOptions, type EventStatus, type Json, LivefoldClient, type MediaEndpoints, type NotificationList, type Page, type PollView, type Profile, type Replay, type ReplayItem, type Vod, type WriteOptions } from "./client.js";
export { ApiError, type FieldProblem, LivefoldError, OAuthError, SubscriptionClosed, TransportError } from "./errors.js";
export * as events from "./events.js";
export type { Batch, Frame, Held, Notice, Notification, NotificationFrame, Reconnected, Refusal, Rejected, Snapshot, Update } from "./frames.js";
export type { FlagReason, TermMatch } from "./moderation.js";
export { challengeOf, createPkce, type Pkce, randomToken } from "./pkce.js";
export { type SocketFactory, type SocketLike, Subscription, type SubscriptionOptions, type TokenProvider } from "./subscription.js";
export { type Call, type RetryPolicy } from "./transport.js";
export { SOCKET_WRITES, type SendOptions, type SocketWrite } from "./writes.js";
export { WhipPublisher } from "./whip.js";
export { iceGathered, WhepPlayer } from "./whep.js";
