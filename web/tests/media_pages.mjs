// The viewer app's HLS fallback, quality picker and clip page in a real browser (Debian's chromium
// driven by playwright-core). tests/test_web_media_pages.py runs it twice:
// - STREAM_ID set (an RTMP stream, live): a desktop opens its watch page; WHEP is refused (404),
//   the player falls back to hls.js, the quality picker lists the renditions, and picking one
//   changes the picture's height. A phone whose browser has no WebRTC plays HLS straight away.
// - CLIP_URL set: the clip plays, and seeked to each of CHECKPOINTS ({seconds, shown, hidden}),
//   the replayed chat shows exactly the messages said up to that point of the recording.
// Environment: APP_URL, SHOTS, CHROMIUM. Prints one JSON line: what the browser saw.

import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { need } from "./harness.mjs";

const app = need("APP_URL");
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });
const DESKTOP = { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const WAIT = { timeout: 30_000 };
const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`) });

/** The video plays: its currentTime passes `seconds`. */
async function plays(page, seconds = 0.6) {
  await page.waitForFunction((least) => (document.querySelector("video.video")?.currentTime ?? 0) > least, seconds, WAIT);
  return page.evaluate(() => document.querySelector("video.video").currentTime);
}

/** Pick a rendition in the quality picker; the picture's height follows. */
async function choose(page, label) {
  await page.locator(".player-controls select").selectOption({ label });
  const height = Number.parseInt(label, 10);
  await page.waitForFunction((wanted) => document.querySelector("video.video")?.videoHeight === wanted, height, WAIT);
  const before = await page.evaluate(() => document.querySelector("video.video").currentTime);
  await plays(page, before + 0.5); // and it goes on playing at that height
  return page.evaluate(() => document.querySelector("video.video").videoHeight);
}

async function watchOverHls(streamId) {
  const watchUrl = `${app}/watch/${encodeURIComponent(streamId)}`;
  const context = await browser.newContext({ ...DESKTOP, colorScheme: "dark", locale: "en-US" });
  const page = await context.newPage();
  const whep = [];
  page.on("response", (response) => {
    if (response.request().method() === "POST" && response.url().includes("/whep/")) whep.push(response.status());
  });
  await page.goto(watchUrl);
  await page.locator(".line", { hasText: "of the chat" }).first().waitFor(WAIT);
  const played = await plays(page);
  await page.locator(".player-controls select option").nth(1).waitFor({ state: "attached", ...WAIT }); // the manifest's levels
  const levels = await page.locator(".player-controls select option").allTextContents();
  const heights = { "360p": await choose(page, "360p"), "480p": await choose(page, "480p") };
  await page.waitForTimeout(450); // transitions end before a picture
  await shot(page, "watch-hls-desktop");
  await context.close();

  // A browser without WebRTC never asks for WHEP.
  const phone = await browser.newContext({ ...PHONE, colorScheme: "dark", locale: "en-US" });
  await phone.addInitScript(() => {
    delete window.RTCPeerConnection;
  });
  const second = await phone.newPage();
  let phoneWhep = 0;
  second.on("request", (request) => request.url().includes("/whep/") && phoneWhep++);
  await second.goto(watchUrl);
  const phonePlayed = await plays(second);
  await phone.close();
  return { played_seconds: played, whep_statuses: whep, levels, heights, no_webrtc_played_seconds: phonePlayed, no_webrtc_whep: phoneWhep };
}

/** Seek the clip to `seconds` and wait for the replay to show `shown` and none of `hidden`. */
async function replayAt(page, { seconds, shown, hidden }) {
  await page.evaluate((to) => {
    const video = document.querySelector("video.video");
    video.pause();
    video.currentTime = to;
  }, seconds);
  try {
    await page.waitForFunction(
      ({ shown, hidden }) => {
        const lines = [...document.querySelectorAll(".recording .line")].map((line) => line.textContent ?? "");
        const has = (text) => lines.some((line) => line.includes(text));
        return shown.every(has) && !hidden.some(has);
      },
      { shown, hidden },
      WAIT,
    );
  } catch (error) {
    const lines = await page.locator(".recording .line").allTextContents();
    throw new Error(`at ${seconds}s the replay shows ${JSON.stringify(lines)}, not ${JSON.stringify(shown)}`);
  }
  return seconds;
}

async function clipReplays(url, points) {
  const context = await browser.newContext({ ...DESKTOP, colorScheme: "dark", locale: "en-US" });
  const page = await context.newPage();
  await page.goto(url);
  const played = await plays(page, 0.5);
  const checked = [];
  for (const point of points) checked.push(await replayAt(page, point));
  // The page opened with no message replayed yet (a "nothing yet" line above the rows): the
  // first row now starts at the top, where that line was.
  const firstRowAt = await page.locator(".recording .virtual-row").first().evaluate((row) => row.style.transform);
  if (firstRowAt !== "translateY(0px)") throw new Error(`the replay's first row is at ${firstRowAt}, not at the top`);
  await page.waitForTimeout(450);
  await shot(page, "clip-desktop");
  await context.close();
  return { clip_played_seconds: played, checked };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
});
let done;
try {
  done = process.env.CLIP_URL
    ? await clipReplays(process.env.CLIP_URL, JSON.parse(need("CHECKPOINTS")))
    : await watchOverHls(need("STREAM_ID"));
} catch (error) {
  const picture = join(tmpdir(), "livefold-media-pages-failed.png");
  for (const context of browser.contexts()) for (const page of context.pages()) await page.screenshot({ path: picture }).catch(() => undefined);
  throw new Error(`${error.message}\nthe page then: ${picture}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(done));
