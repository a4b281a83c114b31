// The viewer app in a real browser (Debian's chromium driven by playwright-core), against a live
// gateway that serves it: on a phone and on a desktop, discover the stream, open it, see its
// chat and poll; on the phone, sign in through the gateway's OAuth page (code flow + PKCE),
// chat, react and vote, and see each come back live. Screenshots of each screen go to SHOTS.
//
// Environment: APP_URL, STREAM_ID, CHAT_TEXT, POLL_QUESTION, USERNAME, PASSWORD, DISPLAY_NAME (the
// viewer's, shown on their own messages), SHOTS, CHROMIUM.
// Prints one JSON line (what the browser did) for the Python test to check against the API.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const app = need("APP_URL");
const streamId = need("STREAM_ID");
const chatText = need("CHAT_TEXT");
const question = need("POLL_QUESTION");
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });

// The phone first: the desktop then shows what the phone's viewer said, voted and sent.
const DEVICES = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 },
};
const WAIT = { timeout: 15_000 };

// On the phone the stream is found and tapped; on the desktop its link is opened directly.
async function watchAnonymously(page, device) {
  await page.goto(`${app}/`);
  const card = page.locator(`a.card[data-stream="${streamId}"]`);
  await card.waitFor(WAIT);
  await page.screenshot({ path: join(shots, `discover-${device}.png`) });
  if (device === "phone") await card.click();
  else await page.goto(`${app}/watch/${encodeURIComponent(streamId)}`);
  await page.waitForURL(`${app}/watch/${encodeURIComponent(streamId)}`, WAIT);
  await page.locator(".line", { hasText: chatText }).waitFor(WAIT);
  await page.locator(".poll-question", { hasText: question }).waitFor(WAIT);
  await page.getByRole("button", { name: "Sign in" }).first().waitFor(WAIT); // read-only until then
}

async function signInAndTakePart(page) {
  await page.locator(".compose").getByRole("button", { name: "Sign in" }).click();
  await page.locator('input[name="username"]').waitFor(WAIT); // the gateway's sign-in page
  await page.fill('input[name="username"]', need("USERNAME"));
  await page.fill('input[name="password"]', need("PASSWORD"));
  await Promise.all([page.waitForURL(`${app}/watch/${encodeURIComponent(streamId)}`, WAIT), page.press('input[name="password"]', "Enter")]);
  const said = `Hi from my phone, good luck! #${Date.now().toString(36).slice(-4)}`;
  const box = page.getByRole("textbox", { name: "Send a message" });
  await box.waitFor(WAIT);
  await box.fill(said);
  await box.press("Enter");
  await page.locator(".line.mine", { hasText: said }).locator(".author", { hasText: need("DISPLAY_NAME") }).waitFor(WAIT);
  const votes = page.locator(".poll-votes");
  const before = parseInt((await votes.textContent()) ?? "", 10);
  const first = page.locator(".poll-option").first();
  await first.click();
  await votes.filter({ hasText: new RegExp(`^${before + 1} votes?$`) }).waitFor(WAIT);
  const hearts = page.locator('.reaction[data-kind="heart"] .reaction-count');
  const heartsBefore = parseInt((await hearts.textContent()) ?? "", 10);
  await page.locator('.reaction[data-kind="heart"]').click();
  await hearts.filter({ hasText: new RegExp(`^${heartsBefore + 1}$`) }).waitFor(WAIT);
  return { said, voted: (await first.locator(".poll-text").textContent())?.trim() };
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const started = Date.now();
const done = {};
try {
  for (const [device, options] of Object.entries(DEVICES)) {
    const context = await browser.newContext({ ...options, colorScheme: "dark", serviceWorkers: "allow" });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    await watchAnonymously(page, device);
    if (device === "phone") Object.assign(done, await signInAndTakePart(page));
    await page.waitForTimeout(400); // let the poll bar's transition end before the picture
    await page.screenshot({ path: join(shots, `watch-${device}.png`) });
    if (problems.length) throw new Error(`page errors on ${device}: ${problems.join("; ")}`);
    await context.close();
  }
  await offlineShell();
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...done, seconds: (Date.now() - started) / 1000 }));
