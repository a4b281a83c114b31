// Web Push in the viewer app, in a real browser (Debian's chromium driven by playwright-core):
// tests/test_web_push.py plays the rest and answers each `STEP <name>` line with one JSON line.
//
// A signed-in viewer opens the notification centre and asks to be notified on this device: the
// app fetches the gateway's VAPID key and asks the browser's PushManager to subscribe with it.
// Headless chromium has no push service (no Google Cloud Messaging, no network), so it refuses
// ("Registration failed - permission denied") and the app says so: the script records the key the
// app used and the refusal (PushManager.subscribe is wrapped, the real one still runs). The
// Python side then delivers the gateway's real Web Push to a stand-in subscription and decrypts
// it, as a push service and the browser would; this script hands the decrypted message to the
// app's own service worker as the browser does (DevTools' ServiceWorker.deliverPushMessage), and
// reads back the notification the worker showed. The bell's list also gets it, live.
//
// Environment: APP_URL, STREAM_ID, USERNAME, PASSWORD, SHOTS, CHROMIUM. Prints `DONE <json>`.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { need, step } from "./harness.mjs";

const app = need("APP_URL");
const streamId = need("STREAM_ID");
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });
const WAIT = { timeout: 30_000 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 }, colorScheme: "dark", locale: "en-US",
    serviceWorkers: "allow", permissions: ["notifications"],
  });
  await context.addInitScript(() => {
    const subscribe = PushManager.prototype.subscribe;
    PushManager.prototype.subscribe = async function (options) {
      const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)));
      window.pushAsked = { key: key.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "") };
      try {
        return await subscribe.call(this, options);
      } catch (error) {
        window.pushAsked.refused = `${error.name}: ${error.message}`;
        throw error;
      }
    };
  });
  const page = await context.newPage();
  const watchUrl = `${app}/watch/${encodeURIComponent(streamId)}`;
  await page.goto(watchUrl);
  await page.locator(".compose").getByRole("button", { name: "Sign in" }).click();
  await page.locator('input[name="username"]').waitFor(WAIT); // the gateway's sign-in page
  await page.fill('input[name="username"]', need("USERNAME"));
  await page.fill('input[name="password"]', need("PASSWORD"));
  await Promise.all([page.waitForURL(watchUrl, WAIT), page.press('input[name="password"]', "Enter")]);
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));

  await page.locator(".bell").click();
  const vapid = page.waitForResponse((response) => response.url().endsWith("/notifications/vapid-public-key"), WAIT);
  await page.getByRole("button", { name: "Notify me on this device" }).click();
  const served = await (await vapid).json();
  await page.getByRole("button", { name: "This browser cannot receive push notifications" }).waitFor(WAIT);
  const asked = await page.evaluate(() => window.pushAsked);

  // The app's service worker, as DevTools sees it, to hand it the push as the browser would.
  const cdp = await context.newCDPSession(page);
  const registrations = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (event) => registrations.push(...event.registrations));
  await cdp.send("ServiceWorker.enable");
  const deadline = Date.now() + 10_000;
  while (!registrations.some((one) => !one.isDeleted && one.scopeURL === `${app}/`) && Date.now() < deadline) await page.waitForTimeout(100);
  const registration = registrations.find((one) => !one.isDeleted && one.scopeURL === `${app}/`);
  if (!registration) throw new Error(`the app's service worker is not registered: ${JSON.stringify(registrations)}`);

  const { push } = await step("asked", { served_key: served.public_key, asked });
  await cdp.send("ServiceWorker.deliverPushMessage", { origin: app, registrationId: registration.registrationId, data: push });
  // Asked until the worker has shown it (an async predicate in waitForFunction is a promise,
  // truthy at once: it did not wait).
  const listed = () => page.evaluate(async () =>
    (await (await navigator.serviceWorker.ready).getNotifications()).map((one) => ({ title: one.title, tag: one.tag, url: one.data?.url })),
  );
  let shown = await listed();
  for (const until = Date.now() + WAIT.timeout; !shown.length && Date.now() < until; shown = await listed()) await page.waitForTimeout(200);
  // In the app too: the bell's list has it, live over the socket.
  await page.locator('.notifications li[data-kind="stream_live"]').waitFor(WAIT);
  await page.waitForTimeout(450);
  await page.screenshot({ path: join(shots, "notifications-desktop.png") });
  console.log(`DONE ${JSON.stringify({ shown })}`);
} finally {
  await browser.close();
}
