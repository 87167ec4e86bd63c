"""The official Anthropic Python SDK against gempool: `python anthropic_sdk.py <scenario>`."""

import json

import anthropic
from anthropic import Anthropic

from common import (
    AWKWARD_SCHEMA,
    GEMPOOL_KEY,
    GEMPOOL_URL,
    PNG_B64,
    TIME_SCHEMA,
    WEATHER_SCHEMA,
    expect_raises,
    run,
)


def client(key=None, **kw):
    return Anthropic(base_url=GEMPOOL_URL, api_key=key or GEMPOOL_KEY or "anything", max_retries=0, **kw)


TOOLS = [
    {"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "description": "Time in a zone", "input_schema": TIME_SCHEMA},
]

SONNET = "claude-sonnet-5-5"
HAIKU = "claude-haiku-5-5"
GEMINI3 = "gemini-3-pro-preview"


def check_usage(usage):
    assert usage is not None, "usage"
    assert usage.input_tokens > 0, f"input_tokens: {usage}"
    assert usage.output_tokens > 0, f"output_tokens: {usage}"


def block_types(message):
    return [b.type for b in message.content]


# ------------------------------------------------------------------------------------------
# Text


def text():
    msg = client().messages.create(
        model=SONNET,
        max_tokens=256,
        system="Be terse.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert msg.type == "message" and msg.role == "assistant", msg
    assert msg.id.startswith("msg_"), msg.id
    assert msg.model == SONNET, msg.model
    assert block_types(msg) == ["text"], msg.content
    assert msg.content[0].text == "echo: hello there", msg.content
    assert msg.stop_reason == "end_turn", msg.stop_reason
    assert msg.stop_sequence is None
    check_usage(msg.usage)
    # System as blocks, content as blocks, a multi-turn history.
    msg = client().messages.create(
        model=HAIKU,
        max_tokens=256,
        system=[{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "first"}]},
            {"role": "assistant", "content": "echo: first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "part"}]},
        ],
        # Sampling parameters are no longer typed arguments of the SDK; clients send them raw.
        extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 20},
    )
    assert msg.content[0].text == "echo: second part", msg.content


def text_params():
    msg = client().messages.create(
        model=HAIKU, max_tokens=3, messages=[{"role": "user", "content": "one two three four five"}]
    )
    assert msg.stop_reason == "max_tokens", msg.stop_reason
    assert msg.content[0].text == "echo: one two", msg.content
    msg = client().messages.create(
        model=HAIKU,
        max_tokens=100,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "alpha STOP beta"}],
    )
    assert msg.content[0].text.strip() == "echo: alpha", msg.content
    assert msg.stop_reason in ("end_turn", "stop_sequence"), msg.stop_reason


def stream():
    c = client()
    events = list(
        c.messages.create(
            model=SONNET, max_tokens=256, messages=[{"role": "user", "content": "stream these words"}], stream=True
        )
    )
    kinds = [e.type for e in events if e.type != "ping"]
    assert kinds[0] == "message_start", kinds
    assert kinds[-2:] == ["message_delta", "message_stop"], kinds
    assert kinds[1] == "content_block_start" and kinds[-3] == "content_block_stop", kinds
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == "echo: stream these words", repr(text)
    delta = [e for e in events if e.type == "message_delta"][0]
    assert delta.delta.stop_reason == "end_turn", delta
    assert delta.usage.output_tokens > 0, delta.usage
    start = events[0]
    assert start.message.usage.input_tokens > 0, f"message_start carries input_tokens: {start.message.usage}"
    # The stream helper.
    with c.messages.stream(model=SONNET, max_tokens=256, messages=[{"role": "user", "content": "helper"}]) as s:
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    assert streamed == "echo: helper", repr(streamed)
    assert final.content[0].text == "echo: helper" and final.stop_reason == "end_turn", final
    check_usage(final.usage)


# ------------------------------------------------------------------------------------------
# Thinking


def thinking():
    c = client()
    msg = c.messages.create(
        model=SONNET,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think first"}],
    )
    types = block_types(msg)
    assert types == ["thinking", "text"], types
    assert msg.content[0].thinking, msg.content[0]
    assert msg.content[1].text == "echo: think first", msg.content
    check_usage(msg.usage)
    with c.messages.stream(
        model=SONNET,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think in a stream"}],
    ) as s:
        events = list(s)
        final = s.get_final_message()
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert "thinking_delta" in deltas, deltas
    assert block_types(final) == ["thinking", "text"], final.content
    assert final.content[1].text == "echo: think in a stream", final.content
    # Gemini 3: every thinking block is closed with a signature_delta, and the history with
    # thinking blocks goes back as is.
    with c.messages.stream(
        model=GEMINI3,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=TOOLS,
        messages=[{"role": "user", "content": "call:get_weather"}],
    ) as s:
        events = list(s)
        final = s.get_final_message()
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert "thinking_delta" in deltas and "signature_delta" in deltas, deltas
    assert block_types(final) == ["thinking", "tool_use"], final.content
    assert final.content[0].signature, final.content[0]
    assert final.stop_reason == "tool_use"
    tool_use = final.content[1]
    second = c.messages.create(
        model=GEMINI3,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "call:get_weather"},
            {"role": "assistant", "content": final.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "warm"}]},
        ],
    )
    assert second.content[-1].type == "text", second.content
    assert second.content[-1].text == 'function results: get_weather={"result":"warm"}' or "warm" in second.content[-1].text


# ------------------------------------------------------------------------------------------
# Tools


def tool_loop():
    c = client()
    messages = [{"role": "user", "content": "weather? call:get_weather"}]
    first = c.messages.create(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages)
    assert first.stop_reason == "tool_use", first.stop_reason
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather", first.content
    assert uses[0].input == {"city": "Paris"}, uses[0].input
    assert uses[0].id, uses[0]
    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": json.dumps({"temp_c": 21})}]}
    )
    second = c.messages.create(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages)
    assert second.stop_reason == "end_turn", second.stop_reason
    answer = second.content[-1].text
    assert answer.startswith("function results: get_weather=") and "21" in answer, answer
    # Next user turn in the same conversation.
    messages.append({"role": "assistant", "content": second.content})
    messages.append({"role": "user", "content": "and time call:get_time"})
    third = c.messages.create(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages)
    assert [b.name for b in third.content if b.type == "tool_use"] == ["get_time"], third.content
    check_usage(third.usage)


def tool_loop_hand_built():
    """Clients that rebuild the assistant turn as dicts with only id/name/input."""
    c = client()
    first = c.messages.create(
        model="gemini-3-flash-preview", max_tokens=512, tools=TOOLS, messages=[{"role": "user", "content": "call:get_time"}]
    )
    use = [b for b in first.content if b.type == "tool_use"][0]
    second = c.messages.create(
        model="gemini-3-flash-preview",
        max_tokens=512,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "call:get_time"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": [{"type": "text", "text": "noon"}]},
                ],
            },
        ],
    )
    assert "noon" in second.content[-1].text, second.content


def tool_parallel():
    c = client()
    messages = [{"role": "user", "content": "both call2:get_weather,get_time"}]
    first = c.messages.create(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages)
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"], first.content
    assert len({u.id for u in uses}) == 2, "distinct ids"
    assert first.stop_reason == "tool_use"
    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": uses[0].id, "content": "rainy"},
                {"type": "tool_result", "tool_use_id": uses[1].id, "content": "boom", "is_error": True},
            ],
        }
    )
    second = c.messages.create(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages)
    answer = second.content[-1].text
    assert "get_weather=" in answer and "get_time=" in answer and "rainy" in answer and "boom" in answer, answer


def tool_stream():
    c = client()
    messages = [{"role": "user", "content": "streamed call2:get_weather,get_time"}]
    with c.messages.stream(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages) as s:
        events = list(s)
        first = s.get_final_message()
    assert "input_json_delta" in [e.delta.type for e in events if e.type == "content_block_delta"]
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"], first.content
    assert uses[0].input == {"city": "Paris"}, uses[0].input
    assert first.stop_reason == "tool_use", first.stop_reason
    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": f"r{i}"} for i, u in enumerate(uses)]}
    )
    with c.messages.stream(model=GEMINI3, max_tokens=1024, tools=TOOLS, messages=messages) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert "r0" in text and "r1" in text, text
    assert final.stop_reason == "end_turn"


def tool_choice():
    c = client()
    msg = c.messages.create(
        model=HAIKU,
        max_tokens=256,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "get_time"},
        messages=[{"role": "user", "content": "no directive"}],
    )
    assert [b.name for b in msg.content if b.type == "tool_use"] == ["get_time"], msg.content
    msg = c.messages.create(
        model=HAIKU,
        max_tokens=256,
        tools=TOOLS,
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "call:get_time"}],
    )
    assert block_types(msg) == ["text"], msg.content
    msg = c.messages.create(
        model=HAIKU,
        max_tokens=256,
        tools=TOOLS,
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "anything"}],
    )
    assert msg.stop_reason == "tool_use", msg


def schemas():
    c = client()
    tools = [
        {"name": "lookup", "description": "awkward", "input_schema": AWKWARD_SCHEMA},
        {"name": "ping", "description": "no params", "input_schema": {"type": "object", "properties": {}}},
        {"name": "bare", "input_schema": {"type": "object"}},
    ]
    msg = c.messages.create(
        model=GEMINI3, max_tokens=512, tools=tools, messages=[{"role": "user", "content": "call:lookup"}]
    )
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert uses and uses[0].name == "lookup", msg.content
    args = uses[0].input
    assert "format" in args and args["kind"] == "weather" and args["unit"] == "celsius", args
    for name in ("ping", "bare"):
        msg = c.messages.create(
            model=HAIKU, max_tokens=512, tools=tools, messages=[{"role": "user", "content": f"call:{name}"}]
        )
        assert [b.name for b in msg.content if b.type == "tool_use"] == [name], msg.content


# ------------------------------------------------------------------------------------------
# Images


def image():
    msg = client().messages.create(
        model=SONNET,
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    {"type": "text", "text": "describe this"},
                ],
            }
        ],
    )
    assert msg.content[0].text == "echo: describe this", msg.content
    assert msg.usage.input_tokens == 3, msg.usage
    # An image inside a tool result.
    c = client()
    first = c.messages.create(model=HAIKU, max_tokens=256, tools=TOOLS, messages=[{"role": "user", "content": "call:get_weather"}])
    use = [b for b in first.content if b.type == "tool_use"][0]
    second = c.messages.create(
        model=HAIKU,
        max_tokens=256,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "call:get_weather"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,
                        "content": [
                            {"type": "text", "text": "see image"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                        ],
                    }
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn", second


# ------------------------------------------------------------------------------------------
# Models, count_tokens


def models():
    c = client()
    page = c.models.list()
    ids = [m.id for m in page.data]
    assert "gemini-2.5-flash" in ids and "gemini-3-pro-preview" in ids, ids
    assert all(m.type == "model" and m.display_name and m.created_at for m in page.data), page.data
    one = c.models.retrieve("gemini-2.5-pro")
    assert one.id == "gemini-2.5-pro" and one.type == "model", one


def count_tokens():
    c = client()
    counted = c.messages.count_tokens(model=SONNET, messages=[{"role": "user", "content": "one two three"}])
    assert counted.input_tokens == 3, counted
    with_system = c.messages.count_tokens(
        model=SONNET,
        system="four five",
        tools=TOOLS,
        messages=[{"role": "user", "content": "one two three"}],
    )
    assert with_system.input_tokens >= 5, with_system


# ------------------------------------------------------------------------------------------
# Errors


def auth_error():
    ok = client().messages.create(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert ok.content[0].text == "echo: hi"
    bad = client(key="gp-not-a-real-key")
    err = expect_raises(
        anthropic.AuthenticationError,
        lambda: bad.messages.create(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": "hi"}]),
        "bad client key",
    )
    assert err.status_code == 401
    assert err.body["type"] == "error" and err.body["error"]["type"] == "authentication_error", err.body
    expect_raises(anthropic.AuthenticationError, lambda: bad.models.list(), "bad key on models")
    expect_raises(
        anthropic.AuthenticationError,
        lambda: bad.messages.count_tokens(model=HAIKU, messages=[{"role": "user", "content": "hi"}]),
        "bad key on count_tokens",
    )


def rate_limit():
    c = client()
    err = expect_raises(
        anthropic.RateLimitError,
        lambda: c.messages.create(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": "hi"}]),
        "all keys rate limited",
    )
    assert err.status_code == 429
    assert err.body["error"]["type"] == "rate_limit_error", err.body
    assert err.response.headers.get("retry-after"), f"retry-after header: {dict(err.response.headers)}"

    def streamed():
        with c.messages.stream(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
            return s.get_final_message()

    expect_raises(anthropic.RateLimitError, streamed, "all keys rate limited (stream)")


def bad_request():
    c = client()
    err = expect_raises(
        anthropic.BadRequestError,
        lambda: c.messages.create(
            model=HAIKU,
            max_tokens=64,
            messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}],
        ),
        "tool_result without a tool_use",
    )
    assert err.body["error"]["type"] == "invalid_request_error", err.body


def midstream_error():
    c = client()
    seen = []

    def consume():
        for event in c.messages.create(
            model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": "a long answer that breaks"}], stream=True
        ):
            seen.append(event)

    err = expect_raises(anthropic.APIStatusError, consume, "mid-stream upstream error")
    kinds = [e.type for e in seen]
    assert "message_stop" not in kinds and "message_delta" not in kinds, f"no fake end before the error: {kinds}"
    assert err.body and err.body.get("error", {}).get("type") in ("overloaded_error", "api_error"), err.body


run(
    {
        "text": text,
        "text_params": text_params,
        "stream": stream,
        "thinking": thinking,
        "tool_loop": tool_loop,
        "tool_loop_hand_built": tool_loop_hand_built,
        "tool_parallel": tool_parallel,
        "tool_stream": tool_stream,
        "tool_choice": tool_choice,
        "schemas": schemas,
        "image": image,
        "models": models,
        "count_tokens": count_tokens,
        "auth_error": auth_error,
        "rate_limit": rate_limit,
        "bad_request": bad_request,
        "midstream_error": midstream_error,
    }
)
