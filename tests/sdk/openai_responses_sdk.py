"""The official OpenAI Python SDK's Responses API against gempool: `python openai_responses_sdk.py <scenario>`.

What Codex CLI and newer OpenAI SDK code speak: `client.responses.create(...)`, whole and streamed,
and the tool loop that appends `response.output` and `function_call_output` items to the input.
"""

import json

import openai
from openai import OpenAI

from common import GEMPOOL_KEY, GEMPOOL_URL, TIME_SCHEMA, WEATHER_SCHEMA, expect_raises, run


def client(key=None, **kw):
    return OpenAI(base_url=f"{GEMPOOL_URL}/v1", api_key=key or GEMPOOL_KEY or "anything", max_retries=0, **kw)


def tool(name, parameters, description="a tool"):
    # Responses tools are flat: no nested "function" object.
    return {"type": "function", "name": name, "description": description, "parameters": parameters, "strict": False}


TOOLS = [tool("get_weather", WEATHER_SCHEMA, "Weather in a city"), tool("get_time", TIME_SCHEMA, "Time in a zone")]
# Hosted tools the gateway skips.
HOSTED = [{"type": "web_search"}, {"type": "mcp", "server_label": "docs", "server_url": "https://example.com/mcp"}]


def check_usage(usage, reasoning=False):
    assert usage is not None, "usage is missing"
    assert usage.input_tokens > 0, f"input_tokens: {usage}"
    assert usage.output_tokens > 0, f"output_tokens: {usage}"
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens, f"total_tokens: {usage}"
    assert usage.input_tokens_details is not None and usage.input_tokens_details.cached_tokens == 0, usage
    if reasoning:
        assert usage.output_tokens_details.reasoning_tokens > 0, f"reasoning_tokens: {usage}"


def check_sequence(events):
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events))), f"sequence numbers: {numbers}"
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types.count("response.completed") <= 1, types
    return types


def calls_of(resp):
    return [item for item in resp.output if item.type == "function_call"]


# ------------------------------------------------------------------------------------------


def text():
    resp = client().responses.create(model="gpt-4o-mini", instructions="Be terse.", input="hello there")
    assert resp.object == "response", resp
    assert resp.id.startswith("resp_"), resp.id
    assert resp.status == "completed", resp.status
    assert resp.model == "gpt-4o-mini", f"model echoes the requested name: {resp.model}"
    assert resp.output_text == "echo: hello there", repr(resp.output_text)
    assert resp.instructions == "Be terse.", resp.instructions
    [message] = resp.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed", message
    assert message.content[0].type == "output_text", message.content
    check_usage(resp.usage)

    # Input as a list of messages with typed content parts.
    resp = client().responses.create(
        model="gemini-2.5-flash",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list input"}]},
        ],
        temperature=0.3,
        top_p=0.9,
        metadata={"trace": "1"},
        store=False,
    )
    assert resp.output_text == "echo: list input", resp.output_text
    assert resp.temperature == 0.3 and resp.metadata == {"trace": "1"}, resp


def stream():
    events = list(client().responses.create(model="gpt-4o-mini", input="stream these words please", stream=True))
    types = check_sequence(events)
    assert types[-1] == "response.completed", types
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1, f"text arrives in several deltas: {deltas}"
    assert "".join(deltas) == "echo: stream these words please", deltas
    done = [e for e in events if e.type == "response.output_text.done"]
    assert len(done) == 1 and done[0].text == "echo: stream these words please", done
    order = [t for t in types if t != "response.output_text.delta"]
    assert order == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], order
    final = events[-1].response
    assert final.status == "completed" and final.output_text == "echo: stream these words please", final
    check_usage(final.usage)

    # The SDK's stream helper accumulates the same response.
    with client().responses.stream(model="gpt-4o-mini", input="helper stream") as s:
        for _ in s:
            pass
        final = s.get_final_response()
    assert final.output_text == "echo: helper stream", final.output_text


def reasoning():
    resp = client().responses.create(
        model="gemini-2.5-flash", input="think about it", reasoning={"effort": "low", "summary": "auto"}
    )
    kinds = [item.type for item in resp.output]
    assert kinds == ["reasoning", "message"], kinds
    assert resp.output[0].summary and resp.output[0].summary[0].text, resp.output[0]
    assert resp.output_text == "echo: think about it", f"thoughts never mixed into the text: {resp.output_text!r}"
    check_usage(resp.usage, reasoning=True)

    events = list(
        client().responses.create(
            model="gemini-2.5-flash",
            input="think while streaming",
            reasoning={"effort": "medium", "summary": "detailed"},
            stream=True,
        )
    )
    types = check_sequence(events)
    assert "response.reasoning_summary_part.added" in types, types
    thoughts = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert thoughts, "reasoning summary deltas"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: think while streaming", repr(text)
    check_usage(events[-1].response.usage, reasoning=True)

    # Effort without a summary: thinking happens, no summary is returned (as on OpenAI).
    resp = client().responses.create(model="gemini-2.5-flash", input="quietly", reasoning={"effort": "high"})
    assert [item.type for item in resp.output] == ["message"], resp.output
    check_usage(resp.usage, reasoning=True)


def tool_loop():
    """Codex's loop on Gemini 3: append response.output and function_call_output items."""
    c = client()
    model = "gemini-3-pro-preview"
    items = [{"role": "user", "content": "what is the weather? call:get_weather"}]
    first = c.responses.create(model=model, input=items, tools=TOOLS + HOSTED, parallel_tool_calls=True)
    [call] = calls_of(first)
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}, call
    assert call.call_id and call.status == "completed", call
    items += first.output
    items.append({"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temp_c": 21})})
    second = c.responses.create(model=model, input=items, tools=TOOLS + HOSTED)
    assert second.output_text == 'function results: get_weather={"temp_c":21}', second.output_text
    assert not calls_of(second)
    # A third round: the earlier (now answered) loop stays valid history.
    items += second.output
    items.append({"role": "user", "content": "and the time? call:get_time"})
    third = c.responses.create(model=model, input=items, tools=TOOLS, tool_choice="auto")
    assert [x.name for x in calls_of(third)] == ["get_time"], third.output
    check_usage(third.usage)


def tool_parallel_stream():
    c = client()
    model = "gemini-3-pro-preview"
    items = [{"role": "user", "content": "both please call2:get_weather,get_time"}]
    events = list(c.responses.create(model=model, input=items, tools=TOOLS, stream=True))
    types = check_sequence(events)
    assert types[-1] == "response.completed", types
    args = {}
    for e in events:
        if e.type == "response.function_call_arguments.delta":
            args[e.item_id] = args.get(e.item_id, "") + e.delta
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [i.name for i in added] == ["get_weather", "get_time"], added
    calls = calls_of(events[-1].response)
    assert [x.name for x in calls] == ["get_weather", "get_time"], calls
    assert len({x.call_id for x in calls}) == 2, "distinct call ids"
    for x in calls:
        assert args[x.id] == x.arguments, (args, x)
    # Results in reverse order, one as content parts; streamed with the SDK's helper.
    items += events[-1].response.output
    items.append({"type": "function_call_output", "call_id": calls[1].call_id, "output": [{"type": "input_text", "text": "noon"}]})
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "rainy"})
    with c.responses.stream(model=model, input=items, tools=TOOLS) as s:
        final = s.get_final_response()
    text = final.output_text
    assert text.startswith("function results: get_weather="), text
    assert "rainy" in text and "noon" in text and "get_time=" in text, text


def tool_choice_and_json():
    c = client()
    resp = c.responses.create(
        model="gemini-2.5-flash",
        input="no directive here",
        tools=TOOLS,
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert [x.name for x in calls_of(resp)] == ["get_time"], resp.output
    resp = c.responses.create(model="gemini-2.5-flash", input="call:get_weather", tools=TOOLS, tool_choice="none")
    assert not calls_of(resp) and resp.output_text.startswith("echo:"), resp.output
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
        "required": ["city", "temp"],
        "additionalProperties": False,
    }
    resp = c.responses.create(
        model="gemini-2.5-flash",
        input="give me weather json",
        text={"format": {"type": "json_schema", "name": "weather", "schema": schema, "strict": True}},
    )
    data = json.loads(resp.output_text)
    assert set(data) == {"city", "temp"}, data
    assert resp.text.format.type == "json_schema", resp.text


def max_tokens():
    resp = client().responses.create(model="gemini-2.5-flash", input="one two three four five six", max_output_tokens=3)
    assert resp.status == "incomplete", resp.status
    assert resp.incomplete_details.reason == "max_output_tokens", resp.incomplete_details
    assert resp.max_output_tokens == 3, resp.max_output_tokens
    events = list(
        client().responses.create(
            model="gemini-2.5-flash", input="one two three four five six", max_output_tokens=3, stream=True
        )
    )
    types = check_sequence(events)
    assert types[-1] == "response.incomplete" and "response.completed" not in types, types
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def bad_request():
    c = client()
    err = expect_raises(
        openai.BadRequestError,
        lambda: c.responses.create(model="gpt-4o-mini", input="hi", previous_response_id="resp_123"),
        "previous_response_id",
    )
    assert "previous_response_id" in err.message, err.message
    err = expect_raises(
        openai.BadRequestError,
        lambda: c.responses.create(
            model="gpt-4o-mini",
            input=[{"role": "user", "content": "hi"}, {"type": "function_call_output", "call_id": "call_x", "output": "r"}],
        ),
        "output without a call",
    )
    assert err.status_code == 400 and "call_x" in err.message, err


# ------------------------------------------------------------------------------------------
# Codex CLI: freeform `apply_patch`, `local_shell`, encrypted reasoning, always streamed.

APPLY_PATCH_GRAMMAR = r"""start: begin_patch hunk+ end_patch
begin_patch: "*** Begin Patch" LF
end_patch: "*** End Patch" LF?
hunk: add_hunk | delete_hunk | update_hunk
add_hunk: "*** Add File: " filename LF add_line+
delete_hunk: "*** Delete File: " filename LF
update_hunk: "*** Update File: " filename LF change?
filename: /(.+)/
add_line: "+" /(.*)/ LF -> line
change: (change_context | change_line)+ eof_line?
change_context: ("@@" | "@@ " /(.+)/) LF
change_line: ("+" | "-" | " ") /(.*)/ LF
eof_line: "*** End of File" LF
%import common.LF
"""

CODEX_TOOLS = [
    tool("shell", {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                   "required": ["command"], "additionalProperties": False}, "Runs a shell command"),
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Use the `apply_patch` tool to edit files. "
        "This is a FREEFORM tool, so do not wrap the patch in JSON.",
        "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR},
    },
    {"type": "local_shell"},
    {"type": "web_search"},
]


def codex_message(role, text):
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


def codex_turn(c, items):
    """One Codex request: always streamed, store off, encrypted reasoning asked for. Returns the
    events and the finished items as Codex records them (from `response.output_item.done`,
    replayed without their ids)."""
    events = list(
        c.responses.create(
            model="gemini-3-pro-preview",
            instructions="You are Codex, a coding agent.",
            input=items,
            tools=CODEX_TOOLS,
            tool_choice="auto",
            parallel_tool_calls=False,
            reasoning={"effort": "medium", "summary": "auto"},
            store=False,
            stream=True,
            include=["reasoning.encrypted_content"],
            prompt_cache_key="0199-codex-session",
            text={"verbosity": "medium"},
        )
    )
    types = check_sequence(events)
    assert types[-1] == "response.completed", types
    done = [e.item for e in events if e.type == "response.output_item.done"]
    final = events[-1].response
    assert [i.type for i in final.output] == [i.type for i in done], (final.output, done)
    replay = []
    for item in done:
        data = item.model_dump(exclude_none=True)
        data.pop("id", None)
        replay.append(data)
    return events, done, replay


def codex_loop():
    c = client()
    items = [
        codex_message("developer", "Sandbox: workspace-write."),
        codex_message("user", "add a.txt call:apply_patch"),
    ]
    # Round 1: Gemini calls the freeform tool; it arrives as a custom_tool_call.
    events, done, replay = codex_turn(c, items)
    kinds = [i.type for i in done]
    assert kinds == ["reasoning", "custom_tool_call", "reasoning"], kinds
    call = done[1]
    assert call.name == "apply_patch" and call.input == "Paris" and call.call_id, call
    assert call.id.startswith("ctc_"), call
    deltas = [e for e in events if e.type == "response.custom_tool_call_input.delta"]
    inputs = [e for e in events if e.type == "response.custom_tool_call_input.done"]
    assert "".join(d.delta for d in deltas) == call.input and [e.input for e in inputs] == [call.input], events
    assert deltas[0].item_id == call.id and deltas[0].output_index == 1, deltas
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert added[1].type == "custom_tool_call" and added[1].input == "", added
    assert done[0].summary and not done[0].encrypted_content, done[0]
    assert done[2].encrypted_content and not done[2].summary, done[2]
    assert not [e for e in events if e.type == "response.function_call_arguments.delta"], "no function-call events"

    # Round 2: the patch result goes back as custom_tool_call_output; a text answer follows.
    items += replay
    result = "Success. Updated the following files:\nA a.txt"
    items.append({"type": "custom_tool_call_output", "call_id": call.call_id, "output": result})
    events, done, replay = codex_turn(c, items)
    assert [i.type for i in done] == ["reasoning", "message", "reasoning"], done
    text = events[-1].response.output_text
    assert text == 'function results: apply_patch={"result":"Success. Updated the following files:\\nA a.txt"}', text
    assert done[2].encrypted_content, "the text answer's signature is handed out"

    # Round 3: a new user turn; the model runs a command through local_shell.
    items += replay
    items.append(codex_message("user", "now list call:local_shell"))
    events, done, replay = codex_turn(c, items)
    assert [i.type for i in done] == ["reasoning", "local_shell_call", "reasoning"], done
    shell = done[1]
    assert shell.action.type == "exec" and shell.action.command == ["Paris"] and shell.action.env == {}, shell
    assert shell.status == "completed" and shell.call_id, shell

    # Round 4: Codex answers a local_shell_call with a function_call_output.
    items += replay
    result = json.dumps({"output": "a.txt\n", "metadata": {"exit_code": 0}})
    items.append({"type": "function_call_output", "call_id": shell.call_id, "output": result})
    events, done, replay = codex_turn(c, items)
    text = events[-1].response.output_text
    assert text.startswith("function results: local_shell=") and "exit_code" in text, text
    check_usage(events[-1].response.usage, reasoning=True)


def custom_tool_choice():
    """tool_choice naming a custom tool forces it (non-streamed, no signatures on 2.5)."""
    c = client()
    resp = c.responses.create(
        model="gemini-2.5-flash",
        input="no directive here",
        tools=CODEX_TOOLS,
        tool_choice={"type": "custom", "name": "apply_patch"},
        include=["reasoning.encrypted_content"],
    )
    assert [i.type for i in resp.output] == ["custom_tool_call"], resp.output
    assert resp.output[0].name == "apply_patch" and resp.output[0].input == "Paris", resp.output
    assert resp.tool_choice.type == "custom" and resp.tool_choice.name == "apply_patch", resp.tool_choice
    assert [t.type for t in resp.tools] == ["function", "custom", "local_shell", "web_search"], resp.tools
    # The output goes back with a custom_tool_call_output.
    items = [{"role": "user", "content": "no directive here"}]
    items += resp.output
    result = [{"type": "input_text", "text": "ok"}]
    items.append({"type": "custom_tool_call_output", "call_id": resp.output[0].call_id, "output": result})
    resp = c.responses.create(model="gemini-2.5-flash", input=items, tools=CODEX_TOOLS)
    assert resp.output_text == 'function results: apply_patch={"result":"ok"}', resp.output_text


def midstream_error():
    events = []

    def consume():
        for e in client().responses.create(model="gpt-4o-mini", input="a long answer that breaks", stream=True):
            events.append(e)
        return events

    consume()
    types = [e.type for e in events]
    assert types and types[0] == "response.created", types
    assert types[-1] == "response.failed", f"the stream ends failed: {types}"
    assert "response.completed" not in types, f"no fake completion: {types}"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error and failed.error.message, failed


run(
    {
        "text": text,
        "stream": stream,
        "reasoning": reasoning,
        "tool_loop": tool_loop,
        "tool_parallel_stream": tool_parallel_stream,
        "tool_choice_and_json": tool_choice_and_json,
        "max_tokens": max_tokens,
        "bad_request": bad_request,
        "midstream_error": midstream_error,
        "codex_loop": codex_loop,
        "custom_tool_choice": custom_tool_choice,
    }
)
