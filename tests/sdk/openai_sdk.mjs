// The official OpenAI Node SDK against gempool: `node openai_sdk.mjs <scenario>`.

import OpenAI from "openai";
import { assert, GEMPOOL_KEY, GEMPOOL_URL, WEATHER_SCHEMA, run } from "./node_common.mjs";

const client = () => new OpenAI({ baseURL: `${GEMPOOL_URL}/v1`, apiKey: GEMPOOL_KEY, maxRetries: 0 });

const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: WEATHER_SCHEMA } },
];

async function chat() {
  const resp = await client().chat.completions.create({
    model: "gpt-6.2-sol",
    messages: [
      { role: "developer", content: "Be terse." },
      { role: "user", content: "hello from node" },
    ],
  });
  assert.equal(resp.object, "chat.completion");
  assert.equal(resp.model, "gpt-6.2-sol", "the model echoes the requested name");
  assert.equal(resp.choices[0].message.content, "echo: hello from node");
  assert.equal(resp.choices[0].finish_reason, "stop");
  assert.ok(resp.usage.prompt_tokens > 0 && resp.usage.completion_tokens > 0, JSON.stringify(resp.usage));
}

async function chat_stream() {
  const stream = await client().chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "stream this please" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content || "";
      finish = choice.finish_reason || finish;
    }
  }
  assert.ok(chunks > 2, `streamed in pieces: ${chunks}`);
  assert.equal(text, "echo: stream this please");
  assert.equal(finish, "stop");
  assert.ok(usage && usage.total_tokens > 0, "usage in the last chunk");
}

async function chat_tools() {
  const c = client();
  const messages = [{ role: "user", content: "weather? call:get_weather" }];
  const first = await c.chat.completions.create({ model: "gemini-3-pro-preview", messages, tools: TOOLS });
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  const call = choice.message.tool_calls[0];
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });
  messages.push(choice.message);
  messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify({ temp_c: 21 }) });
  const second = await c.chat.completions.create({ model: "gemini-3-pro-preview", messages, tools: TOOLS });
  assert.equal(second.choices[0].message.content, 'function results: get_weather={"temp_c":21}');
  assert.equal(second.choices[0].finish_reason, "stop");
}

async function responses_stream() {
  const stream = client().responses.stream({
    model: "gpt-6.2-sol",
    instructions: "Be terse.",
    input: [{ role: "user", content: [{ type: "input_text", text: "respond in a stream" }] }],
    store: false,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "node-sdk",
    text: { verbosity: "low" },
    parallel_tool_calls: false,
    service_tier: "auto",
    safety_identifier: "user-1",
  });
  const types = [];
  let deltas = "";
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") deltas += event.delta;
  }
  const final = await stream.finalResponse();
  assert.equal(types[0], "response.created");
  assert.equal(types[types.length - 1], "response.completed");
  assert.equal(deltas, "echo: respond in a stream");
  assert.equal(final.output_text, "echo: respond in a stream");
  assert.equal(final.status, "completed");
  assert.equal(final.model, "gpt-6.2-sol");
}

async function responses_namespace_tools() {
  // A namespaced tool (what current Codex declares): the call comes back under its namespace.
  const tools = [
    {
      type: "namespace",
      name: "weather",
      description: "Weather tools.",
      tools: [{ type: "function", name: "get_weather", description: "Weather in a city", parameters: WEATHER_SCHEMA }],
    },
  ];
  const c = client();
  const first = await c.responses.create({ model: "gpt-6.2-sol", input: "call:weather__get_weather", tools });
  const call = first.output.find((item) => item.type === "function_call");
  assert.ok(call, JSON.stringify(first.output));
  assert.equal(call.name, "get_weather");
  assert.equal(call.namespace, "weather");
  const second = await c.responses.create({
    model: "gpt-6.2-sol",
    tools,
    input: [
      { role: "user", content: "call:weather__get_weather" },
      call,
      { type: "function_call_output", call_id: call.call_id, output: "sunny" },
    ],
  });
  assert.match(second.output_text, /^function results: weather__get_weather=/);
}

await run({ chat, chat_stream, chat_tools, responses_stream, responses_namespace_tools });
