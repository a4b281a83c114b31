import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { events } from "../src/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url)); // dist/test -> the package

test("the generated event types are up to date with the Avro schemas", () => {
  const run = spawnSync(process.execPath, ["scripts/generate-events.mjs", "--check"], { cwd: root, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
});

test("every event type is listed by its full name", () => {
  assert.ok(events.EVENT_NAMES.includes("livefold.chat.MessageSent"));
  assert.ok(events.EVENT_NAMES.includes("livefold.polls.VoteCast"));
  const sent: events.EventMap["livefold.chat.MessageSent"] = {
    event_id: "00000000-0000-4000-8000-000000000000",
    stream_id: "s",
    actor_id: "u",
    occurred_at: 0,
    trace_id: null,
    message_id: "m",
    text: "hi",
    reply_to: null,
    emotes: [],
    badges: [],
  };
  assert.equal(sent.text, "hi");
});
