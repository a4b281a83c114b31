// A chat of a thousand messages in the viewer app (Debian's chromium driven by playwright-core),
// against a live gateway. The Python test (tests/test_web_long_chat.py) plays the chatters: when
// this script prints `STEP <name>` it sends messages and answers with one JSON line on stdin.
// A desktop watches signed out: it scrolls back through the history the gateway keeps, then a
// thousand messages arrive while it follows the newest; the list keeps a bounded number of rows
// in the DOM, shows the newest at the bottom, keeps the row being read in place while more come,
// and scrolls back past all it holds to the stream's first message, each earlier page of the whole
// chat coming above the row being read without moving it. The long tasks the page ran meanwhile
// are reported. The stream is live without video: the player says so.
//
// Environment: APP_URL, STREAM_ID, FIRST_MESSAGE, LAST_MESSAGE (of the history before), SHOTS,
// CHROMIUM. Prints `DONE <json>` (what the browser saw) at the end.

import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { need, step } from "./harness.mjs";

const app = need("APP_URL");
const streamId = need("STREAM_ID");
const shots = need("SHOTS");
mkdirSync(shots, { recursive: true });
const WAIT = { timeout: 30_000 };
const DESKTOP = { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 };


/** What the chat list holds: rows in the DOM, rows in the list, elements in the whole page. */
const counts = (page) =>
  page.evaluate(() => {
    const rows = [...document.querySelectorAll(".chat .virtual-row[aria-setsize]")];
    return { rendered: rows.length, total: Number(rows[0]?.getAttribute("aria-setsize") ?? 0), elements: document.querySelectorAll("*").length };
  });

/** The row with this text lies within the list's visible box. */
const inView = (page, text) =>
  page.waitForFunction(
    (wanted) => {
      const list = document.querySelector(".chat .virtual")?.getBoundingClientRect();
      const row = [...document.querySelectorAll(".chat .virtual-row")].find((one) => one.textContent?.includes(wanted));
      if (!list || !row) return false;
      const box = row.getBoundingClientRect();
      return box.top >= list.top - 1 && box.bottom <= list.bottom + 1;
    },
    text,
    WAIT,
  );

/** Scroll to the list's top until its header says what `edge` says (earlier rows load meanwhile). */
async function scrollBackTo(page, edge) {
  const list = page.locator(".chat .virtual");
  for (let turn = 0; turn < 60; turn++) {
    await list.evaluate((element) => (element.scrollTop = 0));
    await page.waitForTimeout(150);
    if (await page.locator(".history-edge", { hasText: edge }).count()) break;
  }
  await list.evaluate((element) => (element.scrollTop = 0)); // the list kept the reader's place as rows came above
  await page.locator(".history-edge", { hasText: edge }).waitFor(WAIT);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const done = {};
const context = await browser.newContext({ ...DESKTOP, colorScheme: "dark", locale: "en-US" });
const page = await context.newPage();
const problems = [];
page.on("pageerror", (error) => problems.push(String(error)));
try {
  await page.goto(`${app}/watch/${encodeURIComponent(streamId)}`);
  await inView(page, need("LAST_MESSAGE"));
  // Scrolled back, the history the gateway keeps loads page by page, down to its first message.
  await scrollBackTo(page, "beginning of the chat");
  await page.locator(".chat .virtual-row").nth(1).filter({ hasText: need("FIRST_MESSAGE") }).waitFor(WAIT);
  done.history = await counts(page);
  await page.locator(".new-messages").click();
  await inView(page, need("LAST_MESSAGE"));

  // A thousand messages arrive while the reader follows the newest.
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((entry) => entry.duration))).observe({ type: "longtask" });
  });
  const burst = await step("burst");
  await inView(page, burst.last);
  done.burst = await counts(page);
  done.long_tasks_ms = await page.evaluate(() => window.longTasks.map(Math.round));
  // Live without video (no media service here): the player says so rather than connecting for ever.
  await page.locator(".player.none", { hasText: "No video yet" }).waitFor({ timeout: 60_000 });
  await page.screenshot({ path: join(shots, "chat-1000-desktop.png") });

  // Scrolled up into the middle: the row being read stays where it is while more arrive.
  const list = page.locator(".chat .virtual");
  await list.evaluate((element) => (element.scrollTop = element.scrollHeight / 2));
  await page.locator(".new-messages").waitFor(WAIT);
  await page.waitForTimeout(300);
  const reading = await page.evaluate(() => {
    const box = document.querySelector(".chat .virtual").getBoundingClientRect();
    const row = [...document.querySelectorAll(".chat .virtual-row[aria-setsize]")].find((one) => one.getBoundingClientRect().top >= box.top + 40);
    return { key: row.dataset.key, top: row.getBoundingClientRect().top, at: Number(row.getAttribute("aria-posinset")) };
  });
  const rowOf = (key) => `.chat .virtual-row[data-key="${key}"]`; // message ids: no quotes in them
  const more = await step("more");
  // The list holds the newest 1,000: as the new ones come below, as many old ones leave above.
  await page.waitForFunction(
    ({ selector, at, count }) => Number(document.querySelector(selector)?.getAttribute("aria-posinset")) === at - count,
    { selector: rowOf(reading.key), at: reading.at, count: more.count },
    WAIT,
  );
  await page.waitForTimeout(300); // rows measured as they render
  const after = await page.evaluate((selector) => document.querySelector(selector)?.getBoundingClientRect().top ?? null, rowOf(reading.key));
  done.reading = { before: reading.top, after };

  // At the top of what the list holds (the stream's first left it), the whole chat's page before
  // it comes above the row being read, which stays put. (The answer is held back until that row
  // was measured; it comes from the real gateway all the same.)
  const fromHistory = (url) => new URL(url).pathname.endsWith("/chat/history");
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route(fromHistory, async (route) => {
    await held;
    await route.continue();
  });
  const asked = page.waitForRequest((request) => fromHistory(request.url()), WAIT);
  await list.evaluate((element) => (element.scrollTop = 0));
  await asked;
  await page.waitForTimeout(300); // rows measured as they render
  const oldest = await page.evaluate(() => {
    const row = document.querySelector('.chat .virtual-row[aria-posinset="1"]');
    return { key: row.dataset.key, top: row.getBoundingClientRect().top };
  });
  release();
  await page.waitForFunction((selector) => Number(document.querySelector(selector)?.getAttribute("aria-posinset")) > 1, rowOf(oldest.key), WAIT);
  await page.unroute(fromHistory);
  await page.waitForTimeout(300);
  const moved = await page.evaluate((selector) => document.querySelector(selector)?.getBoundingClientRect().top ?? null, rowOf(oldest.key));
  done.prepended = { before: oldest.top, after: moved };
  // On up to the stream's first message, then down to the newest.
  await scrollBackTo(page, "beginning of the chat");
  done.top = await page.locator(".chat .virtual-row[aria-setsize]").first().textContent();
  done.scrolled_back = await counts(page);
  await page.locator(".new-messages").click();
  await inView(page, more.last);
  done.bottom = await counts(page);
} catch (error) {
  const picture = join(tmpdir(), "livefold-long-chat-failed.png");
  await page.screenshot({ path: picture }).catch(() => undefined);
  throw new Error(`${error.message}\npage errors: ${problems.join("; ") || "none"}\nthe page then: ${picture}`);
} finally {
  await browser.close();
}
if (problems.length) throw new Error(`page errors: ${problems.join("; ")}`);
console.log(`DONE ${JSON.stringify(done)}`);
