// Shared helpers for the Node SDK scenario scripts (the Node twin of common.py).
//
// Each script runs as `node tests/sdk/<sdk>_sdk.mjs <scenario>` with GEMPOOL_URL (the gateway's
// base URL, no trailing slash) and GEMPOOL_KEY (a gempool client key) in the environment. A
// scenario is an async function; a failed assertion exits non-zero with a message.

import assert from "node:assert/strict";

export { assert };
export const GEMPOOL_URL = (process.env.GEMPOOL_URL || "").replace(/\/+$/, "");
export const GEMPOOL_KEY = process.env.GEMPOOL_KEY || "";

export const WEATHER_SCHEMA = {
  type: "object",
  properties: { city: { type: "string", description: "City name" } },
  required: ["city"],
};

// Runs the scenario named by argv[2]; exits 1 with a clear message on failure.
export async function run(scenarios) {
  const name = process.argv[2];
  if (!name || !(name in scenarios)) {
    console.error(`usage: ${process.argv[1]} <${Object.keys(scenarios).sort().join("|")}>`);
    process.exit(2);
  }
  assert.ok(GEMPOOL_URL, "GEMPOOL_URL is not set");
  try {
    await scenarios[name]();
  } catch (e) {
    console.error(e);
    console.error(`\nFAILED ${process.argv[1]} ${name}: ${e && e.message}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}
