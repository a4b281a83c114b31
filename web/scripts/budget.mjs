// The page-weight budget, checked after every build: what a first visit downloads (index.html
// and everything under dist/assets, gzipped as the network would carry it) must stay within it.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 60; // gzipped; today about 22 kB
const dist = new URL("../dist/", import.meta.url).pathname;
const files = ["index.html", ...readdirSync(join(dist, "assets")).map((name) => join("assets", name))];
const sizes = files.map((file) => [file, gzipSync(readFileSync(join(dist, file))).length]);
const total = sizes.reduce((sum, [, size]) => sum + size, 0) / 1024;
for (const [file, size] of sizes) console.log(`  ${file.padEnd(32)} ${(size / 1024).toFixed(1)} kB gzipped`);
console.log(`page weight ${total.toFixed(1)} kB of a ${BUDGET_KB} kB budget`);
if (total > BUDGET_KB) {
  console.error(`over the page-weight budget: ${total.toFixed(1)} kB > ${BUDGET_KB} kB (web/scripts/budget.mjs)`);
  process.exit(1);
}
