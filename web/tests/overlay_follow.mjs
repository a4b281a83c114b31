// The OBS follow alert in a real browser (Debian's chromium driven by playwright-core) against a
// live gateway: the alerts overlay is open before anyone follows; when this script prints
// `STEP open` the Python test (tests/test_web_overlay_follow.py) follows the stream and answers
// with the follower's display name, which the alert must show (not an id, not "someone").
//
// Environment: APP_URL, STREAM_ID, SHOTS, CHROMIUM. Prints `DONE <json>` (the alert's text).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { need, step } from "./harness.mjs";

const app = need("APP_URL");
const streamId = need("STREAM_ID");
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });
const WAIT = { timeout: 30_000 };


const browser = await chromium.launch({ executablePath: need("CHROMIUM"), args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  const context = await browser.newContext({ viewport: { width: 800, height: 450 }, colorScheme: "dark" });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  // A follow before the overlay's audience snapshot would be no news to it: wait for that.
  const subscribed = new Promise((resolve) =>
    page.on("websocket", (socket) =>
      socket.on("framereceived", ({ payload }) => {
        if (typeof payload === "string" && payload.includes('"snapshot"') && payload.includes('"audience"')) resolve();
      }),
    ),
  );
  await page.goto(`${app}/overlay/${encodeURIComponent(streamId)}/alerts`);
  await page.locator('[data-overlay="alerts"]').waitFor(WAIT);
  await Promise.race([subscribed, page.waitForTimeout(WAIT.timeout).then(() => Promise.reject(new Error("no audience snapshot")))]);
  const { name } = await step("open");
  // The name comes with the follow's notice, the count with the audience view: wait for both.
  const alert = page
    .locator(".ov-alert", { hasText: `${name} followed!` })
    .filter({ hasText: "1 followed during this stream" });
  await alert.waitFor(WAIT);
  // For the picture in docs/, a dark backdrop stands in for the video OBS composites under it.
  await page.addStyleTag({ content: "html.overlay-page.overlay-page { background: linear-gradient(135deg, #1f2937, #0f172a 55%, #312e81) !important; }" });
  await page.screenshot({ path: join(shots, "overlay-follow.png") });
  if (problems.length) throw new Error(`page errors: ${problems.join("; ")}`);
  console.log(`DONE ${JSON.stringify({ alert: await alert.innerText() })}`);
} finally {
  await browser.close();
}
