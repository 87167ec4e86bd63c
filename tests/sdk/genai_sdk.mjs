// The official Google Gen AI Node SDK against gempool (`httpOptions.baseUrl`):
// `node genai_sdk.mjs <scenario>`.

import { GoogleGenAI } from "@google/genai";
import { assert, GEMPOOL_KEY, GEMPOOL_URL, run } from "./node_common.mjs";

const client = () => new GoogleGenAI({ apiKey: GEMPOOL_KEY, httpOptions: { baseUrl: GEMPOOL_URL } });
const MODEL = "gemini-2.5-flash";

async function generate() {
  const resp = await client().models.generateContent({ model: MODEL, contents: "hello from genai" });
  assert.equal(resp.text, "echo: hello from genai");
  assert.equal(resp.candidates[0].finishReason, "STOP");
  assert.ok(resp.usageMetadata.totalTokenCount > 0);
}

async function stream() {
  const chunks = await client().models.generateContentStream({ model: MODEL, contents: "stream from genai" });
  let text = "";
  let n = 0;
  for await (const chunk of chunks) {
    n += 1;
    text += chunk.text || "";
  }
  assert.ok(n > 1, `several chunks: ${n}`);
  assert.equal(text, "echo: stream from genai");
}

async function count_tokens() {
  const resp = await client().models.countTokens({ model: MODEL, contents: "three words here" });
  assert.equal(resp.totalTokens, 3);
}

async function embed() {
  const resp = await client().models.embedContent({
    model: "gemini-embedding-001",
    contents: ["first text", "second text"],
    config: { outputDimensionality: 8 },
  });
  assert.equal(resp.embeddings.length, 2);
  assert.equal(resp.embeddings[0].values.length, 8);
  assert.notDeepEqual(resp.embeddings[0].values, resp.embeddings[1].values);
}

await run({ generate, stream, count_tokens, embed });
