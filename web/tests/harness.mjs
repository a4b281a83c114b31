// What the browser scripts share with the Python test driving them: settings from the
// environment, and `step`: print `STEP <name> <json>`, then wait for the test's JSON answer.
import { createInterface } from "node:readline";

export const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

export async function step(name, detail = {}) {
  console.log(`STEP ${name} ${JSON.stringify(detail)}`);
  const { value, done } = await answers.next();
  if (done) throw new Error(`no answer to step ${name}`);
  return JSON.parse(value);
}
