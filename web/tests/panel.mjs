// The streamer's control panel and the OBS overlays in a real browser (Debian's chromium with a
// fake camera, driven by playwright-core) against a live gateway and media service. The Python
// test (tests/test_web_panel.py) plays everyone else: when this script prints `STEP <name>` it
// does its part (viewers chat, tip, vote) and answers with one JSON line on stdin.
//
// Environment: APP_URL, STREAM_ID, USERNAME, PASSWORD (the streamer), GUEST_ID, SHOTS, CHROMIUM.
// Prints `DONE <json>` (what the browser did) at the end.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { need, step } from "./harness.mjs";

const app = need("APP_URL");
const streamId = need("STREAM_ID");
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });
const WAIT = { timeout: 20_000 };
const studio = `${app}/studio/${encodeURIComponent(streamId)}`;
const DESKTOP = { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 };
const TABLET = { viewport: { width: 820, height: 1180 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };


const shoot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`) });

async function tab(page, id) {
  await page.click(`.studio-tabs a[data-tab="${id}"]`);
  await page.waitForURL(`${studio}/${id}`, WAIT);
}

async function signIn(page) {
  await page.goto(`${app}/studio`);
  await page.getByRole("button", { name: "Sign in" }).first().click();
  await page.locator('input[name="username"]').waitFor(WAIT);
  await page.fill('input[name="username"]', need("USERNAME"));
  await page.fill('input[name="password"]', need("PASSWORD"));
  await Promise.all([page.waitForURL(`${app}/studio`, WAIT), page.press('input[name="password"]', "Enter")]);
  await page.locator(`.stream-list a[data-stream="${streamId}"]`).waitFor(WAIT);
  await shoot(page, "panel-streams-desktop");
}

async function goLive(page) {
  await page.click(`.stream-list a[data-stream="${streamId}"]`);
  await page.waitForURL(`${studio}/live`, WAIT);
  await page.getByRole("button", { name: "Preview camera" }).click();
  await page.waitForFunction(() => document.querySelector(".preview video")?.readyState >= 2, null, WAIT);
  await page.getByRole("button", { name: "Show a new stream key" }).click();
  await page.locator('[data-copy="Stream key"]').waitFor(WAIT);
  await page.getByRole("button", { name: "Go live with camera" }).click();
  await page.locator('[data-testid="stream-status"]', { hasText: /^live$/ }).waitFor({ timeout: 40_000 });
  await page.locator('[data-testid="health"].good').waitFor(WAIT);
  await page.locator('[data-testid="ingest"]', { hasText: "WHIP" }).waitFor(WAIT); // the media service's own measure
  await page.locator('[data-testid="ingest"] [data-figure="bitrate"]', { hasText: /[1-9]\d* kbit\/s/ }).waitFor(WAIT); // its live health
  await page.waitForTimeout(1500); // a second sample: the bitrate
  await shoot(page, "panel-golive-desktop");
}

async function overlay(context, kind, config = "") {
  const page = await context.newPage();
  await page.goto(`${app}/overlay/${encodeURIComponent(streamId)}/${kind}${config}`);
  await page.locator(`[data-overlay="${kind}"]`).waitFor(WAIT);
  return page;
}

/** OBS composites the page over the video: its background must be transparent. For the
 * pictures in docs/, a dark backdrop stands in for the video. */
async function shootOverlay(page, name) {
  const background = await page.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor]);
  if (background.some((colour) => colour !== "rgba(0, 0, 0, 0)")) throw new Error(`overlay ${name} is not transparent: ${background}`);
  await page.addStyleTag({ content: "html.overlay-page.overlay-page { background: linear-gradient(135deg, #1f2937, #0f172a 55%, #312e81) !important; }" });
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

// Custom CSS keeps only plain rules of visual properties.
async function sanitisedCss(context) {
  const css = "@import url(https://evil.example/x.css); .ov-alert-title { color: #ff0; background: url(javascript:alert(1)); width: expression(alert(2)) } @media screen { body { color: red } } .ov-line { border-radius: 4px }";
  const config = Buffer.from(JSON.stringify({ css })).toString("base64url");
  const page = await overlay(context, "alerts", `?config=${config}`);
  const kept = await page.locator("style[data-custom-css]").textContent();
  await page.close();
  for (const banned of ["@import", "javascript:", "expression(", "url(", "@media", "evil.example"]) {
    if (kept.includes(banned)) throw new Error(`the overlay's custom CSS kept ${banned}: ${kept}`);
  }
  if (!kept.includes("color: #ff0") || !kept.includes("border-radius: 4px")) throw new Error(`safe CSS was dropped: ${kept}`);
  return kept;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: [
    "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
  ],
});
const started = Date.now();
const done = {};
try {
  const context = await browser.newContext({ ...DESKTOP, colorScheme: "dark", permissions: ["camera", "microphone", "clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("dialog", (dialog) => void dialog.accept());
  await signIn(page);
  await goLive(page);

  // The overlays are open in OBS before anything happens on the stream.
  const alerts = await overlay(context, "alerts");
  const rain = await overlay(context, "reactions");
  const told = await step("live"); // viewers chat (one held, one troll) and tip
  await alerts.locator(".ov-alert", { hasText: "The chatter tipped" }).waitFor(WAIT); // a name, not an id
  await shootOverlay(alerts, "overlay-alerts");
  await step("rain"); // viewers react
  await rain.locator(".ov-drop").nth(4).waitFor(WAIT);
  await rain.waitForTimeout(900);
  await shootOverlay(rain, "overlay-reactions");
  for (const [kind, shot] of [["chat", "overlay-chat"], ["goal", "overlay-goal"]]) {
    const shown = await overlay(context, kind);
    await shown.waitForTimeout(600);
    await shootOverlay(shown, shot);
    await shown.close();
  }
  done.css = await sanitisedCss(context);

  // Chat: approve the held message, ban the troll from their line.
  await tab(page, "chat");
  const held = page.locator(`.queue-item[data-held="${told.held}"]`);
  await held.waitFor(WAIT);
  await page.locator(`.mod-line[data-message="${told.troll}"] .author`, { hasText: "The troll" }).waitFor(WAIT); // names, not ids
  await held.locator(".author", { hasText: "The chatter" }).waitFor(WAIT);
  await shoot(page, "panel-chat-desktop");
  await held.getByRole("button", { name: "Approve" }).click();
  await page.locator(`.mod-line[data-message="${told.held}"]`).waitFor(WAIT);
  await page.locator(`.mod-line[data-message="${told.troll}"]`).getByRole("button", { name: "Ban" }).click();
  await page.locator(".done", { hasText: "is banned" }).waitFor(WAIT);

  // Rules: the troll is on the banned list; block a term.
  await tab(page, "rules");
  await page.locator(`[data-banned="${told.trollId}"]`, { hasText: "The troll" }).waitFor(WAIT);
  await page.getByRole("textbox", { name: "Term to block" }).fill("spoilers");
  await page.getByRole("button", { name: "Block", exact: true }).click();
  await page.locator('.chip[data-term="spoilers"]').waitFor(WAIT);
  await shoot(page, "panel-rules-desktop");

  // A poll: start it, a viewer votes, close it.
  await tab(page, "interact");
  const newPoll = page.locator('form[aria-label="New poll"]');
  await newPoll.locator('input[name="poll-question"]').fill(told.question);
  await newPoll.getByRole("textbox", { name: "Option 1" }).fill("Any%");
  await newPoll.getByRole("textbox", { name: "Option 2" }).fill("100%");
  await page.getByRole("button", { name: "Start poll" }).click();
  const poll = page.locator(".result", { hasText: told.question });
  await poll.locator(".badge", { hasText: "open" }).waitFor(WAIT);
  const pollId = await poll.getAttribute("data-poll");
  await step("poll", { poll_id: pollId });
  await poll.locator(".poll-voters", { hasText: "1 voter" }).waitFor(WAIT);
  await page.getByRole("textbox", { name: "First question" }).fill("Which boss has two phases?");
  const newQuestion = page.locator('form[aria-label="New quiz question"]');
  for (const [index, text] of ["The Watcher", "Ember Queen", "Gravelord"].entries()) await newQuestion.getByRole("textbox", { name: `Option ${index + 1}` }).fill(text);
  await page.getByRole("button", { name: "Start quiz" }).click();
  await page.locator(".result", { hasText: "Which boss has two phases?" }).waitFor(WAIT);
  const live = await overlay(context, "poll");
  await live.locator(".ov-poll", { hasText: told.question }).waitFor(WAIT);
  await shootOverlay(live, "overlay-poll");
  await live.close();
  await shoot(page, "panel-interact-desktop");
  await poll.getByRole("button", { name: "Close poll" }).click();
  await poll.locator(".badge", { hasText: "closed" }).waitFor(WAIT);

  // Guests: invite one by id.
  await tab(page, "guests");
  await page.getByRole("textbox", { name: "Guest's user id" }).fill(need("GUEST_ID"));
  await page.getByRole("button", { name: "Invite", exact: true }).click();
  const invitation = page.locator(`.record[data-guest="${need("GUEST_ID")}"]`);
  await invitation.locator(".badge", { hasText: "invited" }).waitFor(WAIT);
  await invitation.locator(".record-head b", { hasText: "The guest" }).waitFor(WAIT);
  await invitation.getByRole("button", { name: "Mute" }).click();
  await invitation.locator(".badge", { hasText: "muted" }).waitFor(WAIT);
  await shoot(page, "panel-guests-desktop");

  // Tips: the tip is in the feed and the list.
  await tab(page, "tips");
  await page.locator(`.record[data-tip="${told.tip}"]`, { hasText: "The chatter" }).waitFor(WAIT);
  await shoot(page, "panel-tips-desktop");

  for (const id of ["settings", "media", "overlays"]) {
    await tab(page, id);
    await page.waitForTimeout(id === "overlays" ? 1500 : 300);
    await shoot(page, `panel-${id}-desktop`);
  }

  // Analytics: the charts count what happened (ClickHouse, through the gateway's read).
  await tab(page, "analytics");
  await page.locator('.chart[data-series="messages"]:not([data-total="0"])').waitFor({ timeout: 40_000 });
  await page.locator('.chart[data-series="viewers"]:not([data-total="0"])').waitFor(WAIT);
  done.charts = Object.fromEntries(await page.locator(".chart").evaluateAll((charts) => charts.map((chart) => [chart.dataset.series, Number(chart.dataset.total)])));
  await shoot(page, "panel-analytics-desktop");

  // The same panel on a tablet (the session carried over).
  const tablet = await browser.newContext({ ...TABLET, colorScheme: "dark", storageState: await context.storageState() });
  const small = await tablet.newPage();
  small.on("pageerror", (error) => problems.push(`tablet: ${error}`));
  for (const id of ["chat", "analytics", "interact"]) {
    await small.goto(`${studio}/${id}`);
    await small.locator(".studio-tabs").waitFor(WAIT);
    if (id === "analytics") await small.locator(".chart").first().waitFor(WAIT);
    else await small.waitForTimeout(800);
    await shoot(small, `panel-${id}-tablet`);
  }
  await small.goto(`${studio}/live`);
  await small.locator('[data-stat="viewers"]').waitFor(WAIT);
  await small.waitForTimeout(500);
  await shoot(small, "panel-golive-tablet");
  await tablet.close();

  // End the stream from the panel: the camera's publisher stops, the stream ends.
  await tab(page, "live");
  await page.getByRole("button", { name: "Stop and end stream" }).click();
  await page.locator('[data-testid="stream-status"]', { hasText: /^ended$/ }).waitFor(WAIT);
  if (problems.length) throw new Error(`page errors: ${problems.join("; ")}`);
  done.poll_id = pollId;
  await context.close();
} finally {
  await browser.close();
}
console.log(`DONE ${JSON.stringify({ ...done, seconds: (Date.now() - started) / 1000 })}`);
