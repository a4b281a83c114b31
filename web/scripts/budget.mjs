// The page-weight budget, checked after every build (gzipped, as the network carries it): what a
// viewer's first visit downloads (index.html, the entry chunk and CSS and what they import
// statically, from Vite's manifest) must stay within FIRST_VISIT_KB; each page loaded later
// (the control panel, the overlays: dynamic imports) within LAZY_KB, except hls.js (its light
// build), fetched only when a stream is not offered over WebRTC, within HLS_KB.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const FIRST_VISIT_KB = 60; // today about 23 kB
const LAZY_KB = 40; // the control panel, about 18 kB today
const HLS_KB = 125; // hls.js light, about 112 kB today
const dist = new URL("../dist/", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8"));
const size = (file) => gzipSync(readFileSync(join(dist, file))).length / 1024;

/** A chunk's files and those of every chunk it imports statically. */
function files(key, seen = new Set()) {
  if (seen.has(key)) return [];
  seen.add(key);
  const chunk = manifest[key];
  return [chunk.file, ...(chunk.css ?? []), ...(chunk.imports ?? []).flatMap((imported) => files(imported, seen))];
}

const entry = Object.keys(manifest).find((key) => manifest[key].isEntry);
const first = new Set(["index.html", ...files(entry)]);
const pages = [["first visit", [...first], FIRST_VISIT_KB]];
for (const key of Object.keys(manifest).filter((key) => manifest[key].isDynamicEntry)) {
  const budget = manifest[key].name === "hls.light" ? HLS_KB : LAZY_KB;
  pages.push([`${manifest[key].name} (loaded when opened)`, files(key).filter((file) => !first.has(file)), budget]);
}
let over = false;
for (const [name, list, budget] of pages) {
  const total = list.reduce((sum, file) => sum + size(file), 0);
  console.log(`${name}: ${total.toFixed(1)} kB of a ${budget} kB budget`);
  for (const file of list) console.log(`  ${file.padEnd(36)} ${size(file).toFixed(1)} kB gzipped`);
  if (total > budget) {
    console.error(`over the page-weight budget: ${name} ${total.toFixed(1)} kB > ${budget} kB (web/scripts/budget.mjs)`);
    over = true;
  }
}
if (over) process.exit(1);
