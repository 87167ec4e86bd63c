// The official Anthropic Node SDK against gempool: `node anthropic_sdk.mjs <scenario>`.

import Anthropic from "@anthropic-ai/sdk";
import { assert, GEMPOOL_KEY, GEMPOOL_URL, WEATHER_SCHEMA, run } from "./node_common.mjs";

const client = () => new Anthropic({ baseURL: GEMPOOL_URL, apiKey: GEMPOOL_KEY, maxRetries: 0 });

const TOOLS = [{ name: "get_weather", description: "Weather in a city", input_schema: WEATHER_SCHEMA }];
const GEMINI3 = "gemini-3-pro-preview";

async function stream_tools_thinking() {
  const c = client();
  const messages = [{ role: "user", content: "weather? call:get_weather" }];
  const stream = c.messages.stream({
    model: GEMINI3,
    max_tokens: 4096,
    thinking: { type: "enabled", budget_tokens: 1024 },
    tools: TOOLS,
    messages,
  });
  const deltas = [];
  stream.on("streamEvent", (event) => {
    if (event.type === "content_block_delta") deltas.push(event.delta.type);
  });
  const first = await stream.finalMessage();
  assert.deepEqual(
    first.content.map((b) => b.type),
    ["thinking", "tool_use"],
  );
  assert.ok(deltas.includes("thinking_delta") && deltas.includes("signature_delta"), deltas.join(","));
  assert.ok(deltas.includes("input_json_delta"), deltas.join(","));
  assert.equal(first.stop_reason, "tool_use");
  const toolUse = first.content[1];
  assert.equal(toolUse.name, "get_weather");
  assert.deepEqual(toolUse.input, { city: "Paris" });

  // The history goes back as the SDK returned it: thinking signature and tool_use id included.
  messages.push({ role: "assistant", content: first.content });
  messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "sunny" }] });
  const second = await c.messages
    .stream({ model: GEMINI3, max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 1024 }, tools: TOOLS, messages })
    .finalMessage();
  const text = second.content.filter((b) => b.type === "text").map((b) => b.text).join("");
  assert.equal(text, 'function results: get_weather={"output":"sunny"}');
  assert.equal(second.stop_reason, "end_turn");
  assert.ok(second.usage.input_tokens > 0 && second.usage.output_tokens > 0);
}

async function adaptive_and_system_messages() {
  // What current Claude Code sends: adaptive thinking with an effort, system messages inside
  // `messages`, context management, deferred tools with cache_control, beta headers.
  const c = client();
  const message = await c.messages.create(
    {
      model: "claude-opus-5-5",
      max_tokens: 2048,
      thinking: { type: "adaptive", display: "omitted" },
      output_config: { effort: "medium" },
      context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
      tools: [{ ...TOOLS[0], defer_loading: true, cache_control: { type: "ephemeral" } }],
      messages: [
        { role: "user", content: [{ type: "text", text: "hello adaptive", cache_control: { type: "ephemeral" } }] },
        { role: "system", content: [{ type: "text", text: "Environment: node" }] },
      ],
    },
    { headers: { "anthropic-beta": "context-management-2025-06-27,effort-2025-11-24" }, query: { beta: "true" } },
  );
  assert.equal(message.model, "claude-opus-5-5");
  assert.deepEqual(message.content.map((b) => b.type), ["text"], "display omitted: no thinking block");
  assert.equal(message.content[0].text, "echo: hello adaptive Environment: node");
  const counted = await c.messages.countTokens({
    model: "claude-opus-5-5",
    messages: [
      { role: "user", content: "count me" },
      { role: "system", content: "and me" },
    ],
  });
  assert.equal(counted.input_tokens, 4);
}

async function models() {
  const page = await client().models.list();
  const ids = page.data.map((m) => m.id);
  assert.ok(ids.includes("claude-opus-5-5"), ids.join(","));
  assert.ok(ids.includes("gemini-2.5-flash"), ids.join(","));
  const one = await client().models.retrieve("claude-haiku-5-5");
  assert.equal(one.id, "claude-haiku-5-5");
  assert.match(one.display_name, /gemini-2\.5-flash/);
}

await run({ stream_tools_thinking, adaptive_and_system_messages, models });
