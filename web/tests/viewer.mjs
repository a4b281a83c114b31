// The viewer app in a real browser (Debian's chromium driven by playwright-core), against a live
// gateway that serves it and a media service with a publisher, on a phone, a tablet and a
// desktop. Each finds the stream and watches the video play (WHEP). The phone signs in through
// the gateway's OAuth page (code flow + PKCE), chats, reacts, votes, answers the quiz and sees a
// held message marked for its author; the tablet (the same account, at the same time) follows,
// tips with a sandbox test card and reports a message; the desktop watches signed out, then
// signs in, scrolls the chat back to its beginning and replies. Screenshots of each screen go
// to SHOTS. Prints one JSON line (what the browser did) for the Python test to check.
//
// Environment: APP_URL, STREAM_ID, CHAT_TEXT, POLL_QUESTION, QUIZ_QUESTION, USERNAME, PASSWORD,
// DISPLAY_NAME (the viewer's), STREAMER_NAME, HELD_TEXT, FIRST_MESSAGE (the oldest in chat history),
// SHOTS, CHROMIUM.

import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { need } from "./harness.mjs";

const app = need("APP_URL");
const streamId = need("STREAM_ID");
const watchUrl = `${app}/watch/${encodeURIComponent(streamId)}`;
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });

const DEVICES = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  tablet: { viewport: { width: 820, height: 1180 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 },
};
const WAIT = { timeout: 20_000 };
const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`) });
const settle = (page) => page.waitForTimeout(450); // transitions end before a picture

async function findAndOpen(page, device) {
  await page.goto(`${app}/`);
  const card = page.locator(`a.card[data-stream="${streamId}"]`);
  await card.waitFor(WAIT);
  await page.locator(".card-body", { hasText: need("STREAMER_NAME") }).first().waitFor(WAIT); // names, not ids
  await shot(page, `discover-${device}`);
  if (device === "desktop") await page.goto(watchUrl);
  else await card.click();
  await page.waitForURL(watchUrl, WAIT);
  await page.locator(".line", { hasText: need("CHAT_TEXT") }).waitFor(WAIT);
  await page.locator(".poll-question", { hasText: need("POLL_QUESTION") }).waitFor(WAIT);
  await page.locator(".quiz .poll-question", { hasText: need("QUIZ_QUESTION") }).waitFor(WAIT);
}

/** The video element plays: its currentTime advances. */
async function videoPlays(page) {
  const video = page.locator("video.video");
  await video.waitFor({ state: "visible", ...WAIT });
  await page.waitForFunction(() => (document.querySelector("video.video")?.currentTime ?? 0) > 0.6, null, WAIT);
  return page.evaluate(() => document.querySelector("video.video").currentTime);
}

async function signIn(page) {
  await page.locator(".compose").getByRole("button", { name: "Sign in" }).click();
  await page.locator('input[name="username"]').waitFor(WAIT); // the gateway's sign-in page
  await page.fill('input[name="username"]', need("USERNAME"));
  await page.fill('input[name="password"]', need("PASSWORD"));
  await Promise.all([page.waitForURL(watchUrl, WAIT), page.press('input[name="password"]', "Enter")]);
  await page.getByRole("textbox", { name: "Send a message" }).waitFor(WAIT);
}

async function say(page, text) {
  const box = page.getByRole("textbox", { name: "Send a message" });
  await box.fill(text);
  await box.press("Enter");
}

async function onThePhone(page) {
  await signIn(page);
  await page.locator(".line.mentioned .mention.me").first().waitFor(WAIT); // the streamer's @you
  const said = `Hi from my phone, good luck! PogChamp #${Date.now().toString(36).slice(-4)}`;
  await say(page, said);
  const mine = page.locator(".line.mine", { hasText: said.slice(0, 20) });
  await mine.locator(".author", { hasText: need("DISPLAY_NAME") }).waitFor(WAIT);
  await mine.locator('.emote[aria-label="PogChamp"]').waitFor(WAIT);
  const votes = page.locator(".poll:not(.quiz) .poll-votes");
  const before = parseInt((await votes.textContent()) ?? "", 10);
  const first = page.locator(".poll:not(.quiz) .poll-option").first();
  await first.click();
  await votes.filter({ hasText: new RegExp(`^${before + 1} votes?$`) }).waitFor(WAIT);
  const hearts = page.locator('.reaction[data-kind="heart"] .reaction-count');
  const heartsBefore = parseInt((await hearts.textContent()) ?? "", 10);
  await page.locator('.reaction[data-kind="heart"]').click();
  await hearts.filter({ hasText: new RegExp(`^${heartsBefore + 1}$`) }).waitFor(WAIT);
  await page.locator(".quiz .poll-option").nth(1).click();
  await page.locator(".quiz .quiz-status", { hasText: "Answer sent" }).waitFor(WAIT);
  await say(page, need("HELD_TEXT"));
  await page.locator(".line.outcome.held", { hasText: "Held for review" }).waitFor(WAIT);
  // Someone replied to the phone's message: the bell counts it, live over the socket.
  await page.locator(".bell-count").waitFor(WAIT);
  await page.locator(".bell").click();
  await page.locator('.notifications li[data-kind="chat_reply"]', { hasText: "Cyrus replied" }).waitFor(WAIT);
  await settle(page);
  await shot(page, "notifications-phone");
  await page.locator(".bell").click();
  await settle(page);
  await shot(page, "watch-phone");
  await page.setViewportSize({ width: 844, height: 390 }); // turned sideways: video, chat over it
  await settle(page);
  await shot(page, "watch-phone-landscape");
  return { said, voted: (await first.locator(".poll-text").textContent())?.trim() };
}

async function onTheTablet(page) {
  await signIn(page);
  const follow = page.locator(".stream-actions .follow");
  await follow.click();
  await page.locator('.stream-actions .follow[aria-pressed="true"]').waitFor(WAIT);
  await page.locator(".tip-button").click();
  const dialog = page.locator("dialog.sheet");
  await dialog.locator(".chip", { hasText: "$10.00" }).click();
  await dialog.getByLabel("Message (optional)").fill("For the dragon skip!");
  await shot(page, "tip-tablet");
  await dialog.getByRole("button", { name: /^Pay/ }).click();
  await dialog.getByLabel("Test card").waitFor(WAIT);
  await dialog.getByRole("button", { name: /^Pay/ }).click();
  await dialog.locator(".thanks").waitFor(WAIT);
  await shot(page, "tip-thanks-tablet");
  await dialog.getByRole("button", { name: "Close" }).click();
  // Report someone's message: its actions, then a reason.
  const line = page.locator(".line", { hasText: need("CHAT_TEXT") });
  await line.getByRole("button", { name: /^Message from/ }).click();
  await line.getByRole("button", { name: "Report" }).click();
  await line.getByRole("button", { name: "Spam" }).click();
  await page.locator(".notice-line", { hasText: "Reported" }).waitFor(WAIT);
  const reported = await line.getAttribute("data-message");
  await settle(page);
  await shot(page, "watch-tablet");
  return { tipped_minor: 1000, reported };
}

async function onTheDesktop(page) {
  await shot(page, "watch-desktop-signed-out");
  await signIn(page);
  // Scroll back to the chat's beginning: earlier pages load as the top comes into view.
  const list = page.locator(".virtual");
  for (let turn = 0; turn < 12; turn++) {
    await list.evaluate((element) => (element.scrollTop = 0));
    await page.waitForTimeout(300);
    if (await page.locator(".history-edge", { hasText: "beginning of the chat" }).count()) break;
  }
  await list.evaluate((element) => (element.scrollTop = 0)); // the list kept the reader's place as history came
  await page.waitForTimeout(200);
  await page.locator(".history-edge", { hasText: "beginning of the chat" }).waitFor(WAIT);
  await page.locator(".virtual-row").nth(1).filter({ hasText: need("FIRST_MESSAGE") }).waitFor(WAIT); // the oldest the gateway keeps
  const rows = page.locator(".virtual-row[aria-setsize]");
  const rendered = await rows.count();
  const total = Number(await rows.first().getAttribute("aria-setsize"));
  if (!(total >= 70 && rendered < total)) throw new Error(`the chat is not windowed: ${rendered} rows in the DOM of ${total}`);
  await shot(page, "chat-history-desktop");
  await page.locator(".new-messages").click(); // back to the newest
  // Reply to the welcome message.
  const welcome = page.locator(".line", { hasText: "Welcome in, everyone" }).first();
  await welcome.hover();
  await welcome.getByRole("button", { name: /^Message from/ }).click();
  await welcome.getByRole("button", { name: "Reply" }).click();
  await page.locator(".replying", { hasText: "Replying to" }).waitFor(WAIT);
  const replied = `Good luck on the run! #${Date.now().toString(36).slice(-4)}`;
  await say(page, replied);
  await page.locator(".line.mine", { hasText: replied }).locator(".reply-context", { hasText: "Welcome in" }).waitFor(WAIT);
  await settle(page);
  await shot(page, "watch-desktop");
  return { replied, rendered_rows: rendered, chat_rows: total };
}

// After one visit the app opens without a network: the shell, saying it cannot reach livefold.
async function offlineShell() {
  const context = await browser.newContext({ ...DEVICES.phone, colorScheme: "dark", serviceWorkers: "allow" });
  const page = await context.newPage();
  await page.goto(`${app}/`);
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await context.setOffline(true);
  await page.reload();
  await page.locator(".brand").waitFor(WAIT);
  await page.locator(".banner", { hasText: "Cannot reach livefold" }).waitFor(WAIT);
  await context.close();
}

/** The German catalogue, as a browser set to German gets it. */
async function inGerman() {
  const context = await browser.newContext({ ...DEVICES.phone, colorScheme: "dark", locale: "de-DE" });
  const page = await context.newPage();
  await page.goto(watchUrl);
  await page.locator(".poll-kind", { hasText: "Umfrage · Abstimmung läuft" }).waitFor(WAIT);
  await page.getByRole("button", { name: "Anmelden" }).first().waitFor(WAIT);
  await page.locator(".line", { hasText: need("CHAT_TEXT") }).waitFor(WAIT);
  await settle(page);
  await shot(page, "watch-phone-de");
  await context.close();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns"],
});
/** After the stream ended: its recording plays with the chat replayed in step (VOD_URL set). */
async function recordingReplays(url) {
  const context = await browser.newContext({ ...DEVICES.desktop, colorScheme: "dark", locale: "en-US" });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => (document.querySelector("video.video")?.currentTime ?? 0) > 0.5, null, WAIT);
  const played = await page.evaluate(() => document.querySelector("video.video").currentTime);
  const duration = await page.evaluate(() => document.querySelector("video.video").duration);
  // Just after CHAT_TEXT was said (CHAT_AT_SECONDS into the recording): the replay shows it.
  const at = Math.min(Number(need("CHAT_AT_SECONDS")) + 1, duration - 0.2);
  await page.evaluate((seconds) => (document.querySelector("video.video").currentTime = seconds), at);
  await page.locator(".recording .line", { hasText: need("CHAT_TEXT") }).waitFor(WAIT);
  const replayed = await page.locator(".recording .virtual-row[aria-setsize]").first().getAttribute("aria-setsize");
  await settle(page);
  await shot(page, "vod-desktop");
  await context.close();
  return { vod_played_seconds: played, vod_duration: duration, vod_replayed_messages: Number(replayed) };
}

const started = Date.now();
const done = { played_seconds: Infinity };

const STEPS = { phone: onThePhone, tablet: onTheTablet, desktop: onTheDesktop };
try {
  if (process.env.VOD_URL) {
    Object.assign(done, await recordingReplays(process.env.VOD_URL));
    delete done.played_seconds;
  }
  for (const [device, options] of process.env.VOD_URL ? [] : Object.entries(DEVICES)) {
    const context = await browser.newContext({ ...options, colorScheme: "dark", serviceWorkers: "allow", locale: "en-US" });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    try {
      await findAndOpen(page, device);
      done.played_seconds = Math.min(done.played_seconds, await videoPlays(page));
      Object.assign(done, await STEPS[device](page));
    } catch (error) {
      const picture = join(tmpdir(), `livefold-viewer-failed-${device}.png`);
      await page.screenshot({ path: picture }).catch(() => undefined);
      const chat = await page
        .evaluate(() => {
          const list = document.querySelector(".virtual");
          const rows = [...document.querySelectorAll(".virtual-row")].map((row) => row.textContent?.slice(0, 40));
          return { scrollTop: list?.scrollTop, scrollHeight: list?.scrollHeight, rows };
        })
        .catch(() => null);
      console.error(JSON.stringify(chat));
      throw new Error(`${device}: ${error.message}\npage errors: ${problems.join("; ") || "none"}\nthe page then: ${picture}`);
    }
    if (problems.length) throw new Error(`page errors on ${device}: ${problems.join("; ")}`);
    await context.close();
  }
  if (!process.env.VOD_URL) {
    await inGerman();
    await offlineShell();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...done, seconds: (Date.now() - started) / 1000 }));
