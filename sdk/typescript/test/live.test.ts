// The TypeScript SDK against a live gateway, started by tests/test_sdk_typescript.py, which
// also registers the two people and makes one a streamer: LIVEFOLD_GATEWAY_URL,
// LIVEFOLD_STREAMER_USERNAME, LIVEFOLD_VIEWER_USERNAME, LIVEFOLD_VIEWER_ID, LIVEFOLD_PASSWORD;
// and, to sign short-lived tokens as its authorization server does, LIVEFOLD_SIGNING_KEY (the
// key file), LIVEFOLD_ISSUER and LIVEFOLD_AUDIENCE.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  ApiError,
  type Batch,
  type Frame,
  LivefoldClient,
  OAuthClient,
  OAuthError,
  type Session,
  type Snapshot,
  Subscription,
  SubscriptionClosed,
} from "../src/index.js";
import { signIn } from "../src/node.js";
import { TcpRelay } from "./relay.js";
import { tokenMinter } from "./tokens.js";

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: tests/test_sdk_typescript.py runs these tests against a live gateway`);
  return value;
}

const url = setting("LIVEFOLD_GATEWAY_URL");
const password = setting("LIVEFOLD_PASSWORD");
const viewerId = setting("LIVEFOLD_VIEWER_ID");
const mintToken = tokenMinter(setting("LIVEFOLD_SIGNING_KEY"), setting("LIVEFOLD_ISSUER"), setting("LIVEFOLD_AUDIENCE"));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A person at a browser: they sign in on the authorization page; the browser follows the redirect. */
function personSigningIn(username: string) {
  return async (authorizationUrl: string): Promise<void> => {
    const page = await fetch(authorizationUrl);
    const html = await page.text();
    assert.equal(page.status, 200, html);
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, "no sign-in form on the authorization page");
    const target = new URL(action.replaceAll("&amp;", "&"), authorizationUrl);
    const answer = await fetch(target, { method: "POST", body: new URLSearchParams({ username, password }), redirect: "manual" });
    assert.equal(answer.status, 302, await answer.text());
    const landing = await fetch(answer.headers.get("location") ?? "");
    assert.equal(landing.status, 200);
  };
}

let oauth: OAuthClient;
let streamer: Session;
let viewer: Session;
const subscriptions: Subscription[] = [];
const relays: TcpRelay[] = [];

before(async () => {
  oauth = await OAuthClient.discover(url);
  streamer = await signIn(oauth, personSigningIn(setting("LIVEFOLD_STREAMER_USERNAME")), { timeoutMs: 30_000 });
  viewer = await signIn(oauth, personSigningIn(setting("LIVEFOLD_VIEWER_USERNAME")), { timeoutMs: 30_000 });
});

after(async () => {
  for (const subscription of subscriptions) subscription.close();
  for (const relay of relays) await relay.close();
});

function subscription(at: string, session: Session, options = {}): Subscription {
  const made = new Subscription(at, { auth: session, backoffMs: 50, maxBackoffMs: 200, ...options });
  subscriptions.push(made);
  return made;
}

async function newStream(client: LivefoldClient, title = "TypeScript SDK live test"): Promise<string> {
  const { stream_id } = await client.createStream({ title, category: "Software", tags: ["sdk"] });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await client.stream(stream_id);
      return stream_id;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function nextOf<T extends Frame["type"]>(live: Subscription, type: T, timeoutMs = 15_000): Promise<Extract<Frame, { type: T }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = await live.next(Math.max(1, deadline - Date.now()));
    if (frame.type === type) return frame as Extract<Frame, { type: T }>;
  }
}

async function chatTexts(live: Subscription, count: number): Promise<string[]> {
  const texts: string[] = [];
  while (texts.length < count) {
    const frame: Batch = await nextOf(live, "batch");
    texts.push(...frame.notices.filter((n) => n.kind === "message").map((n) => String(n.value.text)));
  }
  return texts;
}

test("people sign in with PKCE and the session refreshes its tokens", async () => {
  const me = await new LivefoldClient(url, { auth: streamer }).me();
  assert.equal(me.username, setting("LIVEFOLD_STREAMER_USERNAME"));
  const roles = (me.roles as { role: string }[]).map((r) => r.role);
  assert.ok(roles.includes("streamer"), JSON.stringify(me));
  // A session of its own: replaying its spent refresh token ends it.
  const session = await signIn(oauth, personSigningIn(setting("LIVEFOLD_VIEWER_USERNAME")), { timeoutMs: 30_000 });
  const first = session.tokens;
  assert.ok(first.refreshToken && first.idToken && first.expiresAt > Date.now());
  const fresh = await session.accessToken(true);
  assert.notEqual(fresh, first.accessToken);
  assert.notEqual(session.tokens.refreshToken, first.refreshToken);
  await assert.rejects(oauth.refresh(first.refreshToken), (error: unknown) => error instanceof OAuthError && error.error === "invalid_grant");
});

test("chat sent over REST reaches the viewer's subscription", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const streamId = await newStream(host);
  const live = subscription(url, viewer);
  await live.connect();
  live.subscribe(streamId, ["chat"]);
  const snapshot: Snapshot = await nextOf(live, "snapshot");
  assert.equal(snapshot.stream, streamId);
  const sent = await guest.sendChat(streamId, "hello from the TypeScript SDK");
  const texts = await chatTexts(live, 1);
  assert.deepEqual(texts, ["hello from the TypeScript SDK"]);
  // The live notice goes out at once; the chat view behind history follows within ~100 ms.
  let history = await guest.chatHistory(streamId);
  for (let tries = 0; history.items.length === 0 && tries < 100; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    history = await guest.chatHistory(streamId);
  }
  assert.deepEqual(history.items.map((m) => [m.message_id, m.text]), [[sent.message_id, "hello from the TypeScript SDK"]]);
  assert.equal(live.user, history.items[0]?.author);
  live.close();
});

test("a vote shows in the tally live and over REST", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const streamId = await newStream(host);
  const live = subscription(url, viewer);
  await live.connect();
  live.subscribe(streamId, ["polls"]);
  await nextOf(live, "snapshot");
  const { poll_id } = await host.createPoll(streamId, { question: "Which SDK?", options: { py: "Python", ts: "TypeScript" }, duration_seconds: 600 });
  await host.openPoll(streamId, poll_id);
  await guest.vote(streamId, poll_id, "ts");
  let votes: Record<string, number> = {};
  while (votes.ts !== 1) {
    const frame = await nextOf(live, "batch");
    for (const update of frame.updates) {
      if (update.key !== `${streamId}/${poll_id}`) continue;
      const options = update.value.options as { option_id: string; votes: number }[];
      votes = Object.fromEntries(options.map((o) => [o.option_id, o.votes]));
    }
  }
  assert.deepEqual(votes, { py: 0, ts: 1 });
  const poll = await guest.poll(streamId, poll_id);
  assert.equal(poll.voters, 1);
  assert.deepEqual(poll.options.map((o) => [o.option_id, o.percent]), [["py", 0], ["ts", 100]]);
  live.close();
});

test("the studio's calls: a stream key, media addresses, a guest invited and removed, media lists, analytics for staff only", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const first = await host.rotateStreamKey();
  const second = await host.rotateStreamKey();
  assert.match(second.stream_key, /^lfsk_/);
  assert.notEqual(second.key_id, first.key_id);
  await assert.rejects(guest.rotateStreamKey(), (error: unknown) => error instanceof ApiError && error.status === 403);
  const endpoints = await guest.mediaEndpoints();
  assert.match(endpoints.whip, /^https?:\/\/.+\/whip\/\{stream_id\}$/);
  assert.match(endpoints.whep, /\/whep\/\{stream_id\}$/);
  assert.match(endpoints.hls, /\/hls\/\{stream_id\}\/master\.m3u8$/);
  assert.match(endpoints.rtmp, /^rtmp:\/\/.+\/live$/);
  const streamId = await newStream(host);
  const { invite_id } = await host.inviteGuest(streamId, viewerId);
  const invited = async (status: string) => {
    for (let tries = 0; tries < 200; tries += 1) {
      const invites = (await host.guests(streamId)).invites as { invite_id: string; status: string }[];
      if (invites.some((one) => one.invite_id === invite_id && one.status === status)) return;
      await sleep(50);
    }
    assert.fail(`invitation ${invite_id} never became ${status}`);
  };
  await invited("invited");
  await guest.guestStep(streamId, invite_id, "accept");
  await guest.guestStep(streamId, invite_id, "join");
  await invited("live");
  await host.muteGuest(streamId, invite_id);
  for (let tries = 0; tries < 200; tries += 1) {
    const invites = (await host.guests(streamId)).invites as { invite_id: string; muted: boolean }[];
    if (invites.some((one) => one.invite_id === invite_id && one.muted)) break;
    assert.ok(tries < 199, "the guest was never shown muted");
    await sleep(50);
  }
  await host.removeGuest(streamId, invite_id);
  await invited("removed");
  assert.deepEqual((await guest.clips(streamId)).items, []);
  assert.deepEqual((await guest.recordings(streamId)).items, []);
  await assert.rejects(guest.analytics(streamId), (error: unknown) => error instanceof ApiError && error.status === 403);
  await assert.rejects(host.analytics(streamId, "fortnight" as "hour"), (error: unknown) => error instanceof ApiError && error.field("bucket") !== undefined);
});

test("a write can wait for its outcome, and a follower hears the stream go live", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const streamId = await newStream(host);
  const said = await guest.sendChat(streamId, "waiting for it", {}, { wait: 10 });
  assert.equal(said.status, "applied");
  const { poll_id } = await host.createPoll(streamId, { question: "Late?", options: ["yes", "no"], duration_seconds: 600 });
  const refused = await guest.vote(streamId, poll_id, "1", { wait: 10 });
  assert.equal(refused.status, "rejected"); // never opened
  assert.match(String(refused.reason), /open/);
  const followed = await guest.follow(streamId, { wait: 10 });
  assert.equal(followed.status, "applied");
  const live = subscription(url, viewer);
  await live.connect();
  for (let tries = 0; !(await guest.notifications()).following.includes(streamId); tries += 1) {
    assert.ok(tries < 200, "the follow did not reach the gateway");
    await sleep(50);
  }
  await host.goLive(streamId);
  const frame = await nextOf(live, "notification");
  assert.equal(frame.notification.kind, "stream_live");
  assert.equal(frame.notification.stream_id, streamId);
  // The list is the stream's notifications view, which may follow the notice by a publish
  // interval (agents/publish.py): asked until it lists the notification first.
  for (let tries = 0; ; tries += 1) {
    const listed = await guest.notifications({ limit: 5 });
    if (listed.notifications[0]?.notification_id === frame.notification.notification_id) break;
    assert.ok(tries < 200, "the notification was never listed first");
    await sleep(50);
  }
  const key = await guest.vapidPublicKey();
  assert.match(key.public_key, /^[A-Za-z0-9_-]{87}$/);
  live.close();
});

test("a quiz started without an id gets one and lists as views", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const streamId = await newStream(host);
  const started = await host.createQuiz(streamId, { question: "2+2?", options: ["4", "5"], correct_option: "1" });
  assert.ok(started.quiz_id && started.question_id);
  let items: Record<string, unknown>[] = [];
  const deadline = Date.now() + 30_000;
  while (items.length === 0 && Date.now() < deadline) {
    items = (await guest.quizzes(streamId)).items;
    if (items.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(items.map((v) => [v.kind, v.quiz_id, v.question]), [["question", started.quiz_id, "2+2?"]]);
});

test("after a network cut the subscription resumes with exactly what it missed", async () => {
  const gateway = new URL(url);
  const relay = new TcpRelay(gateway.hostname, Number(gateway.port));
  relays.push(relay);
  const relayUrl = await relay.start();
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const streamId = await newStream(host);
  const live = subscription(relayUrl, viewer);
  await live.connect();
  live.subscribe(streamId, ["chat"]);
  await nextOf(live, "snapshot");
  await guest.sendChat(streamId, "before the cut");
  assert.deepEqual(await chatTexts(live, 1), ["before the cut"]);
  relay.cut();
  const missed = ["missed one", "missed two", "missed three"];
  for (const text of missed) await host.sendChat(streamId, text);
  while ((await guest.chatHistory(streamId)).items.length < 4) await new Promise((resolve) => setTimeout(resolve, 50));
  relay.heal();
  const back = await nextOf(live, "reconnected");
  assert.equal(back.code, null);
  assert.equal(live.reconnects, 1);
  const snapshot = await nextOf(live, "snapshot");
  assert.ok(snapshot.resumed && snapshot.complete);
  assert.deepEqual(snapshot.notices.filter((n) => n.kind === "message").map((n) => n.value.text), missed);
  await guest.sendChat(streamId, "live again");
  assert.deepEqual(await chatTexts(live, 1), ["live again"]);
  live.close();
  await relay.close();
});

test("a silent connection is caught by the heartbeat and replaced", async () => {
  const gateway = new URL(url);
  const relay = new TcpRelay(gateway.hostname, Number(gateway.port));
  relays.push(relay);
  const relayUrl = await relay.start();
  const host = new LivefoldClient(url, { auth: streamer });
  const streamId = await newStream(host);
  const live = subscription(relayUrl, viewer, { heartbeatMs: 300, heartbeatTimeoutMs: 700 });
  await live.connect();
  live.subscribe(streamId, ["chat"]);
  await nextOf(live, "snapshot");
  relay.freeze(); // bytes stop; no close, no error: only the missing pong tells
  const started = Date.now();
  const back = await nextOf(live, "reconnected", 10_000);
  assert.equal(back.code, null);
  assert.ok(Date.now() - started < 5_000);
  await nextOf(live, "snapshot");
  await host.sendChat(streamId, "after the silence");
  assert.deepEqual(await chatTexts(live, 1), ["after the silence"]);
  live.close();
  await relay.close();
});

test("refusals carry the gateway's error, field and reason", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const guest = new LivefoldClient(url, { auth: viewer });
  const streamId = await newStream(host, "Refusals");
  await assert.rejects(guest.createStream({ title: "Not mine", category: "Games" }), (error: unknown) => {
    return error instanceof ApiError && error.status === 403 && error.reason.includes("streamer");
  });
  await assert.rejects(guest.sendChat(streamId, ""), (error: unknown) => {
    return error instanceof ApiError && error.status === 422 && error.error === "invalid" && error.field("text") !== undefined;
  });
  await assert.rejects(new LivefoldClient(url, { auth: "not-a-token" }).sendChat(streamId, "hello?"), (error: unknown) => {
    return error instanceof ApiError && error.status === 401;
  });
});

test("a forged token ends the subscription with 4401 and the reason", async () => {
  const live = subscription(url, viewer, { auth: "not-a-token" });
  await assert.rejects(live.connect(), (error: unknown) => {
    return error instanceof SubscriptionClosed && error.code === 4401 && error.reason.includes("token");
  });
});

test("writes over the socket are acked, refused with their fields, and a late vote comes back rejected", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const streamId = await newStream(host, "Socket writes");
  const watching = subscription(url, streamer);
  await watching.connect();
  watching.subscribe(streamId, ["chat"]);
  await nextOf(watching, "snapshot");
  const mine = subscription(url, viewer);
  await mine.connect();
  const sent = await mine.sendChat(streamId, "hello over the socket", { ref: "ts-hello" });
  assert.equal(sent.message_id, sent.event_id);
  const again = await mine.sendChat(streamId, "hello over the socket", { ref: "ts-hello" });
  assert.equal(again.event_id, sent.event_id);
  await assert.rejects(mine.sendChat(streamId, ""), (error: unknown) => {
    return error instanceof ApiError && error.status === 422 && error.field("text") !== undefined;
  });
  await host.sendChat(streamId, "afterwards");
  assert.deepEqual(await chatTexts(watching, 2), ["hello over the socket", "afterwards"]);
  const { poll_id } = await host.createPoll(streamId, { question: "Late?", options: { a: "Yes", b: "No" }, duration_seconds: 600 });
  await host.openPoll(streamId, poll_id);
  await host.closePoll(streamId, poll_id);
  const late = await mine.vote(streamId, poll_id, "a");
  const rejected = await nextOf(mine, "rejected");
  assert.deepEqual([rejected.event_id, rejected.stream, rejected.channel], [late.event_id, streamId, "polls"]);
  assert.ok(rejected.reason.includes("closed"), rejected.reason);
  // The streamer's socket hears nothing of the viewer's refused vote.
  await assert.rejects(nextOf(watching, "rejected", 1_000), (error: unknown) => error instanceof Error && error.name === "TimeoutError");
  watching.close();
  mine.close();
});

test("the author hears why: a held message comes as `held`, a blocked one as `rejected` with its rule", async () => {
  const host = new LivefoldClient(url, { auth: streamer });
  const streamId = await newStream(host, "Author feedback");
  const mine = subscription(url, viewer);
  await mine.connect();
  const held = await mine.sendChat(streamId, "you are an idiot");
  const heard = await nextOf(mine, "held");
  assert.deepEqual([heard.message_id, heard.event_id, heard.stream], [held.message_id, held.event_id, streamId]);
  assert.ok(heard.reason.startsWith("held for review"), heard.reason);
  assert.ok(heard.rule && heard.category, JSON.stringify(heard));
  const blocked = await mine.sendChat(streamId, "i know where you live");
  const refused = await nextOf(mine, "rejected");
  assert.deepEqual([refused.event_id, refused.message_id], [blocked.event_id, blocked.message_id]);
  assert.ok(refused.reason.startsWith("blocked") && refused.rule, JSON.stringify(refused));
  mine.close();
});

test("anyone reads users' public names by id", async () => {
  const anonymous = new LivefoldClient(url);
  const { items } = await anonymous.profiles([viewerId, "nobody-here"]);
  assert.deepEqual(items, [
    { user_id: viewerId, username: setting("LIVEFOLD_VIEWER_USERNAME"), display_name: "The viewer" },
    { user_id: "nobody-here", username: null, display_name: null },
  ]);
});

test("a socket write whose ack is lost is sent again after the reconnect and makes one message", async () => {
  const gateway = new URL(url);
  const relay = new TcpRelay(gateway.hostname, Number(gateway.port));
  relays.push(relay);
  const relayUrl = await relay.start();
  const host = new LivefoldClient(url, { auth: streamer });
  const streamId = await newStream(host);
  const watching = subscription(url, streamer);
  await watching.connect();
  watching.subscribe(streamId, ["chat"]);
  await nextOf(watching, "snapshot");
  const mine = subscription(relayUrl, viewer);
  await mine.connect();
  relay.loseNextAnswer(); // the ack dies with the connection
  const sent = await mine.sendChat(streamId, "acked on the second connection");
  assert.equal(relay.answersLost, 1);
  assert.equal(mine.reconnects, 1);
  await host.sendChat(streamId, "afterwards");
  const shown: [string, string][] = [];
  while (shown.length < 2) {
    const frame = await nextOf(watching, "batch");
    for (const notice of frame.notices) {
      if (notice.kind === "message") shown.push([String(notice.value.text), String(notice.value.message_id)]);
    }
  }
  assert.deepEqual(shown[0], ["acked on the second connection", sent.message_id]);
  assert.deepEqual(shown.map(([text]) => text), ["acked on the second connection", "afterwards"]);
  watching.close();
  mine.close();
  await relay.close();
});

test("a token provider keeps the socket signed in past each token's expiry, and is asked again on reconnect", async () => {
  const gateway = new URL(url);
  const relay = new TcpRelay(gateway.hostname, Number(gateway.port));
  relays.push(relay);
  const relayUrl = await relay.start();
  const host = new LivefoldClient(url, { auth: streamer });
  const streamId = await newStream(host, "Token provider");
  const asked: number[] = []; // when the provider was asked
  const mine = subscription(relayUrl, viewer, {
    auth: undefined,
    tokenProvider: async () => {
      asked.push(Date.now());
      return mintToken(viewerId, 4);
    },
  });
  await mine.connect();
  assert.equal(mine.user, viewerId);
  assert.equal(asked.length, 1);
  const firstExpiry = mine.expiresAt;
  assert.ok(firstExpiry !== null);
  mine.subscribe(streamId, ["chat"]);
  await nextOf(mine, "snapshot");
  await sleep((firstExpiry + 2) * 1000 - Date.now()); // past the first token's end
  assert.equal(mine.reconnects, 0);
  assert.ok(asked.length >= 2, `asked ${asked.length} times`);
  assert.ok((mine.expiresAt ?? 0) > firstExpiry);
  await mine.sendChat(streamId, "signed in all along");
  assert.deepEqual(await chatTexts(mine, 1), ["signed in all along"]);
  relay.cut();
  const cutAt = Date.now();
  relay.heal();
  await nextOf(mine, "reconnected");
  assert.ok(asked.some((at) => at > cutAt), "the new connection did not ask the provider");
  assert.equal(mine.user, viewerId);
  await mine.sendChat(streamId, "and after the reconnect");
  assert.deepEqual(await chatTexts(mine, 1), ["and after the reconnect"]);
  mine.close();
  await relay.close();
});

test("a session refreshes the socket's token before it expires", async () => {
  const session = await signIn(oauth, personSigningIn(setting("LIVEFOLD_VIEWER_USERNAME")), { timeoutMs: 30_000 });
  const short = mintToken(viewerId, 4);
  // The session takes the short token for a long one: only the gateway's word says otherwise.
  session.tokens = { ...session.tokens, accessToken: short, expiresAt: Date.now() + 3_600_000 };
  const mine = subscription(url, session);
  await mine.connect();
  const firstExpiry = mine.expiresAt;
  assert.ok(firstExpiry !== null && firstExpiry * 1000 - Date.now() < 5_000);
  await sleep((firstExpiry + 1) * 1000 - Date.now());
  assert.equal(mine.reconnects, 0);
  assert.notEqual(session.tokens.accessToken, short);
  assert.ok((mine.expiresAt ?? 0) > firstExpiry + 60);
  // Signed in still: an anonymous write would be 401, this one finds no stream.
  await assert.rejects(mine.sendChat("no-such-stream", "still me"), (error: unknown) => error instanceof ApiError && error.status === 404);
  mine.close();
});
