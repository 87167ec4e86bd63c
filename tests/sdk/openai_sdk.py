"""The official OpenAI Python SDK against gempool: `python openai_sdk.py <scenario>`."""

import base64
import json
import struct
from typing import Optional

import openai
import pydantic
from openai import OpenAI

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
    return OpenAI(base_url=f"{GEMPOOL_URL}/v1", api_key=key or GEMPOOL_KEY or "anything", max_retries=0, **kw)


def tool(name, parameters, description="a tool"):
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


TOOLS = [tool("get_weather", WEATHER_SCHEMA, "Weather in a city"), tool("get_time", TIME_SCHEMA, "Time in a zone")]


def check_usage(usage, reasoning=False):
    assert usage is not None, "usage is missing"
    assert usage.prompt_tokens > 0, f"prompt_tokens: {usage}"
    assert usage.completion_tokens > 0, f"completion_tokens: {usage}"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, f"total_tokens: {usage}"
    if reasoning:
        details = usage.completion_tokens_details
        assert details is not None and (details.reasoning_tokens or 0) > 0, f"reasoning_tokens: {usage}"
        assert usage.completion_tokens > details.reasoning_tokens, f"completion includes reasoning: {usage}"


def reasoning_of(obj):
    """`reasoning_content`, a field the SDK keeps as an extra."""
    extra = getattr(obj, "model_extra", None) or {}
    return extra.get("reasoning_content")


# ------------------------------------------------------------------------------------------
# Text


def text():
    resp = client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "hello there"},
        ],
    )
    assert resp.object == "chat.completion", resp
    assert resp.id, resp
    assert resp.model == "gpt-4o-mini", f"model echoes the requested name: {resp.model}"
    assert len(resp.choices) == 1, resp.choices
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there", choice.message.content
    assert choice.finish_reason == "stop", choice.finish_reason
    assert not choice.message.tool_calls, choice.message.tool_calls
    check_usage(resp.usage)


def text_params():
    resp = client().chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "one two three four five six"}],
        max_completion_tokens=3,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop=["zzz"],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "length", choice.finish_reason
    assert choice.message.content == "echo: one two", choice.message.content
    resp = client().chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "alpha beta STOP gamma"}],
        stop="STOP",
    )
    assert resp.choices[0].message.content.strip() == "echo: alpha beta", resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    resp = client().chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "twice"}], n=2
    )
    assert [c.index for c in resp.choices] == [0, 1], resp.choices
    assert all(c.message.content == "echo: twice" for c in resp.choices), resp.choices


def stream():
    chunks = list(
        client().chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "stream these words please"}],
            stream=True,
        )
    )
    assert chunks, "no chunks"
    ids = {c.id for c in chunks}
    assert len(ids) == 1, f"one id for every chunk: {ids}"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream these words please", repr(text)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"], finishes
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop", "finish_reason on the last chunk"
    assert all(c.usage is None for c in chunks), "no usage without include_usage"
    # The stream helper accumulates the same.
    with client().chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "helper works"}]
    ) as s:
        for _ in s:
            pass
        final = s.get_final_completion()
    assert final.choices[0].message.content == "echo: helper works", final
    assert final.choices[0].finish_reason == "stop"


def stream_usage():
    chunks = list(
        client().chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "count me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == [], f"usage chunk has empty choices: {last}"
    check_usage(last.usage)
    assert all(c.usage is None for c in chunks[:-1]), "only the last chunk carries usage"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"], finishes
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: count me", repr(text)


# ------------------------------------------------------------------------------------------
# Reasoning


def reasoning():
    resp = client().chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "think about it"}],
        reasoning_effort="low",
    )
    msg = resp.choices[0].message
    assert msg.content == "echo: think about it", f"thoughts never mixed into content: {msg.content!r}"
    assert reasoning_of(msg), f"reasoning_content: {msg}"
    check_usage(resp.usage, reasoning=True)

    chunks = list(
        client().chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "think while streaming"}],
            reasoning_effort="medium",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    thoughts = "".join(reasoning_of(c.choices[0].delta) or "" for c in chunks if c.choices)
    assert content == "echo: think while streaming", repr(content)
    assert thoughts, "reasoning_content deltas"
    check_usage(chunks[-1].usage, reasoning=True)


# ------------------------------------------------------------------------------------------
# Tools (Gemini 3: thought signatures must survive the client round trip)


def tool_loop():
    c = client()
    model = "gemini-3-pro-preview"
    messages = [{"role": "user", "content": "what is the weather? call:get_weather"}]
    first = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice.finish_reason
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1, calls
    call = calls[0]
    assert call.type == "function" and call.function.name == "get_weather", call
    assert json.loads(call.function.arguments) == {"city": "Paris"}, call.function.arguments
    assert call.id, "tool call id"
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})})
    second = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    answer = second.choices[0]
    assert answer.finish_reason == "stop", answer.finish_reason
    assert answer.message.content == 'function results: get_weather={"temp_c":21}', answer.message.content
    # A third round: the earlier (now answered) loop stays valid history.
    messages.append(answer.message.model_dump(exclude_none=True))
    messages.append({"role": "user", "content": "and the time? call:get_time"})
    third = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert third.choices[0].message.tool_calls[0].function.name == "get_time"
    check_usage(third.usage)


def tool_loop_sdk_objects():
    """The SDK's documented idiom: append the returned message object itself, with reasoning on."""
    c = client()
    model = "gemini-3-pro-preview"
    messages = [{"role": "user", "content": "call2:get_weather,get_time"}]
    first = c.chat.completions.create(model=model, messages=messages, tools=TOOLS, reasoning_effort="high")
    assert reasoning_of(first.choices[0].message), first.choices[0].message
    messages.append(first.choices[0].message)
    for call in first.choices[0].message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"result of {call.function.name}"})
    second = c.chat.completions.create(model=model, messages=messages, tools=TOOLS, reasoning_effort="high")
    content = second.choices[0].message.content
    assert "result of get_weather" in content and "result of get_time" in content, content
    check_usage(second.usage, reasoning=True)
    # The same with the stream helper's accumulated message.
    messages = [{"role": "user", "content": "call:get_weather"}]
    with c.chat.completions.stream(model=model, messages=messages, tools=TOOLS, reasoning_effort="low") as s:
        final = s.get_final_completion()
    messages.append(final.choices[0].message)
    messages.append({"role": "tool", "tool_call_id": final.choices[0].message.tool_calls[0].id, "content": "ok"})
    third = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert third.choices[0].message.content == 'function results: get_weather={"result":"ok"}', third.choices[0].message


def tool_loop_minimal_history():
    """Clients that rebuild the assistant message by hand (id, type, function only)."""
    c = client()
    model = "gemini-3-flash-preview"
    messages = [{"role": "user", "content": "call:get_weather now"}]
    first = c.chat.completions.create(model=model, messages=messages, tools=TOOLS, tool_choice="auto")
    call = first.choices[0].message.tool_calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    second = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert second.choices[0].message.content.startswith("function results: get_weather="), second.choices[0].message


def tool_parallel():
    c = client()
    model = "gemini-3-pro-preview"
    messages = [{"role": "user", "content": "both please call2:get_weather,get_time"}]
    first = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice.finish_reason
    calls = choice.message.tool_calls
    assert [t.function.name for t in calls] == ["get_weather", "get_time"], calls
    assert len({t.id for t in calls}) == 2, "distinct tool call ids"
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "rainy"})
    messages.append({"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "noon"}]})
    second = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    content = second.choices[0].message.content
    assert content.startswith("function results: get_weather="), content
    assert "rainy" in content and "noon" in content and "get_time=" in content, content


def tool_stream():
    c = client()
    model = "gemini-3-pro-preview"
    messages = [{"role": "user", "content": "streamed call2:get_weather,get_time"}]
    chunks = list(c.chat.completions.create(model=model, messages=messages, tools=TOOLS, stream=True))
    calls = {}
    for ch in chunks:
        if not ch.choices:
            continue
        for tc in ch.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
    assert sorted(calls) == [0, 1], f"tool call indexes: {calls}"
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"], calls
    assert all(calls[i]["id"] for i in (0, 1)), calls
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == ["tool_calls"], finishes
    messages.append(
        {
            "role": "assistant",
            "tool_calls": [
                {"id": calls[i]["id"], "type": "function", "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]}}
                for i in (0, 1)
            ],
        }
    )
    for i, result in ((0, "cloudy"), (1, "3pm")):
        messages.append({"role": "tool", "tool_call_id": calls[i]["id"], "content": result})
    with c.chat.completions.stream(model=model, messages=messages, tools=TOOLS) as s:
        final = s.get_final_completion()
    content = final.choices[0].message.content
    assert "cloudy" in content and "3pm" in content, content
    assert final.choices[0].finish_reason == "stop"


def tool_choice():
    c = client()
    resp = c.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "no directive here"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = resp.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_time", resp.choices[0].message
    resp = c.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "call:get_weather"}],
        tools=TOOLS,
        tool_choice="none",
    )
    assert not resp.choices[0].message.tool_calls, resp.choices[0].message
    resp = c.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "anything"}],
        tools=TOOLS,
        tool_choice="required",
    )
    assert resp.choices[0].finish_reason == "tool_calls", resp.choices[0]


def schemas():
    c = client()
    tools = [
        tool("lookup", AWKWARD_SCHEMA, "awkward schema"),
        tool("ping", {"type": "object", "properties": {}}, "no parameters"),
        {"type": "function", "function": {"name": "noargs", "description": "parameters omitted"}},
        {
            "type": "function",
            "function": {
                "name": "strict_one",
                "strict": True,
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}, "limit": {"type": ["integer", "null"]}},
                    "required": ["q", "limit"],
                    "additionalProperties": False,
                },
            },
        },
    ]
    resp = c.chat.completions.create(
        model="gemini-3-pro-preview",
        messages=[{"role": "user", "content": "call:lookup"}],
        tools=tools,
    )
    calls = resp.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "lookup", resp.choices[0].message
    args = json.loads(calls[0].function.arguments)
    assert "format" in args and "place" in args, f"user properties named like keywords survive: {args}"
    assert args["kind"] == "weather", f"const became a one-value enum: {args}"
    assert args["unit"] == "celsius", f"$ref to an enum was inlined: {args}"
    assert isinstance(args["place"], dict) and "city" in args["place"], args
    for name in ("ping", "noargs", "strict_one"):
        resp = c.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": f"call:{name}"}], tools=tools
        )
        calls = resp.choices[0].message.tool_calls
        assert calls and calls[0].function.name == name, resp.choices[0].message
        json.loads(calls[0].function.arguments)


# ------------------------------------------------------------------------------------------
# Images, structured output


def image():
    resp = client().chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "low"}},
                ],
            }
        ],
    )
    assert resp.choices[0].message.content == "echo: describe this", resp.choices[0].message.content
    # prompt = 2 words + 1 image part
    assert resp.usage.prompt_tokens == 3, resp.usage
    # An image-only turn.
    resp = client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]}],
    )
    assert resp.choices[0].finish_reason == "stop", resp


class City(pydantic.BaseModel):
    name: str
    population: int
    area_km2: float
    capital: bool
    districts: list[str]
    nickname: Optional[str]


def json_schema():
    c = client()
    parsed = c.chat.completions.parse(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "describe Paris"}],
        response_format=City,
    )
    msg = parsed.choices[0].message
    assert msg.parsed is not None, msg
    assert isinstance(msg.parsed, City), msg.parsed
    assert msg.parsed.population == 1 and msg.parsed.capital is True, msg.parsed
    resp = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "give json"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(resp.choices[0].message.content) == {"echo": "give json"}, resp.choices[0].message.content
    resp = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "give json"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"answer": {"type": "string"}, "score": {"type": "number"}},
                    "required": ["answer", "score"],
                    "additionalProperties": False,
                },
            },
        },
    )
    assert json.loads(resp.choices[0].message.content) == {"answer": "Paris", "score": 1.5}, resp.choices[0].message


# ------------------------------------------------------------------------------------------
# Embeddings, models


def embeddings():
    c = client()
    default = c.embeddings.create(model="text-embedding-3-small", input="hello world")
    assert default.object == "list" and len(default.data) == 1, default
    vec = default.data[0].embedding
    assert isinstance(vec, list) and len(vec) == 3072, f"decoded base64 floats, width {len(vec)}"
    assert all(isinstance(x, float) for x in vec[:5])
    assert default.usage is not None and default.usage.total_tokens >= 0, default.usage
    floats = c.embeddings.create(model="text-embedding-3-small", input="hello world", encoding_format="float")
    fvec = floats.data[0].embedding
    assert len(fvec) == 3072
    assert max(abs(a - b) for a, b in zip(vec, fvec)) < 1e-6, "base64 and float agree"
    dims = c.embeddings.create(
        model="text-embedding-3-large", input=["one", "two", "three"], dimensions=256, encoding_format="float"
    )
    assert [d.index for d in dims.data] == [0, 1, 2], dims.data
    assert all(len(d.embedding) == 256 for d in dims.data)
    # The raw base64 wire form is little-endian float32.
    raw = c.embeddings.with_raw_response.create(
        model="gemini-embedding-001", input="hello world", encoding_format="base64", dimensions=8
    )
    body = json.loads(raw.http_response.text)
    packed = base64.b64decode(body["data"][0]["embedding"])
    assert len(packed) == 8 * 4, len(packed)
    values = struct.unpack("<8f", packed)
    assert all(-1.5 < v < 1.5 for v in values) and any(v != 0 for v in values), values
    assert body["model"] == "gemini-embedding-001", body["model"]


def models():
    c = client()
    listed = c.models.list()
    ids = [m.id for m in listed]
    assert "gemini-2.5-flash" in ids and "gemini-3-pro-preview" in ids, ids
    assert "gpt-4o" in ids, f"aliases listed: {ids}"
    assert all(m.object == "model" and m.owned_by for m in listed), listed
    one = c.models.retrieve("gemini-2.5-pro")
    assert one.id == "gemini-2.5-pro" and one.object == "model", one
    alias = c.models.retrieve("gpt-4o-mini")
    assert alias.id == "gpt-4o-mini", alias
    err = expect_raises(openai.NotFoundError, lambda: c.models.retrieve("no-such-model"), "unknown model")
    assert err.status_code == 404


def _png_size(data):
    """The width and height a PNG declares (the mock draws the aspect ratio asked for)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:24]
    return struct.unpack(">II", data[16:24])


def images_generate():
    c = client()
    # A Gemini image model: one generateContent per image; 1792x1024 is nearest to 16:9.
    out = c.images.generate(
        model="gemini-2.5-flash-image", prompt="a lighthouse at dusk", n=2, size="1792x1024", response_format="b64_json"
    )
    assert out.created and len(out.data) == 2, out
    for image in out.data:
        assert _png_size(base64.b64decode(image.b64_json)) == (16, 9)
    # Imagen through :predict, four images per call; 1024x1536 is nearest to 3:4.
    imagen = c.images.generate(model="imagen-4.0-generate-001", prompt="a red fox", n=5, size="1024x1536")
    assert len(imagen.data) == 5, imagen
    assert _png_size(base64.b64decode(imagen.data[4].b64_json)) == (3, 4)
    # An OpenAI image model name is served by the default image model; no size, no ratio.
    default = c.images.generate(model="gpt-image-1", prompt="a cat")
    assert _png_size(base64.b64decode(default.data[0].b64_json)) == (1, 1)
    err = expect_raises(
        openai.BadRequestError,
        lambda: c.images.generate(model="gemini-2.5-flash-image", prompt="a cat", response_format="url"),
        "url images",
    )
    assert err.status_code == 400 and "b64_json" in err.message, err.message
    err = expect_raises(
        openai.BadRequestError,
        lambda: c.images.generate(model="gemini-2.5-flash", prompt="a cat"),
        "a model that does not draw",
    )
    assert "image" in err.message, err.message


def speech():
    c = client()
    # wav: a RIFF header over Gemini's 24 kHz 16-bit mono PCM (the mock speaks 0.1 s per word).
    wav = c.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="hello there world", response_format="wav")
    data = wav.read()
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt ", data[:16]
    channels, rate, _, _, bits = struct.unpack("<HIIHH", data[22:36])
    assert (channels, rate, bits) == (1, 24000, 16), (channels, rate, bits)
    assert struct.unpack("<I", data[40:44])[0] == 3 * 2400 * 2 == len(data) - 44
    # pcm: the samples alone; a Gemini voice and model work as themselves.
    pcm = c.audio.speech.create(
        model="gemini-2.5-flash-preview-tts", voice="Puck", input="hi", response_format="pcm", instructions="Say cheerfully"
    )
    assert len(pcm.read()) == 3 * 2400 * 2  # "Say cheerfully: hi" is three words
    err = expect_raises(
        openai.BadRequestError,
        lambda: c.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="mp3"),
        "mp3 speech",
    )
    assert err.status_code == 400 and "wav" in err.message, err.message


# ------------------------------------------------------------------------------------------
# Errors


def auth_error():
    ok = client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert ok.choices[0].message.content == "echo: hi"
    bad = client(key="gp-not-a-real-key")
    err = expect_raises(
        openai.AuthenticationError,
        lambda: bad.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]),
        "bad client key",
    )
    assert err.status_code == 401
    assert isinstance(err.body, dict) and err.body.get("message"), f"OpenAI error shape: {err.body}"
    expect_raises(openai.AuthenticationError, lambda: bad.models.list(), "bad key on models")
    expect_raises(
        openai.AuthenticationError,
        lambda: bad.embeddings.create(model="text-embedding-3-small", input="x"),
        "bad key on embeddings",
    )


def rate_limit():
    c = client()
    err = expect_raises(
        openai.RateLimitError,
        lambda: c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]),
        "all keys rate limited",
    )
    assert err.status_code == 429
    assert isinstance(err.body, dict) and err.body.get("message"), err.body
    assert err.response.headers.get("retry-after"), f"retry-after header: {dict(err.response.headers)}"
    expect_raises(
        openai.RateLimitError,
        lambda: list(c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)),
        "all keys rate limited (stream)",
    )


def bad_request():
    c = client()
    err = expect_raises(
        openai.BadRequestError,
        lambda: c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_unknown", "content": "x"}],
        ),
        "tool result without a call",
    )
    assert err.status_code == 400


def midstream_error():
    stream = client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a long answer that breaks"}], stream=True
    )
    seen = []

    def consume():
        for chunk in stream:
            seen.append(chunk)
        return seen

    err = expect_raises(openai.APIError, consume, "mid-stream upstream error")
    finishes = [c.choices[0].finish_reason for c in seen if c.choices and c.choices[0].finish_reason]
    assert finishes == [], f"no fake finish_reason before the error: {finishes}"
    assert err.message, err


run(
    {
        "text": text,
        "text_params": text_params,
        "stream": stream,
        "stream_usage": stream_usage,
        "reasoning": reasoning,
        "tool_loop": tool_loop,
        "tool_loop_sdk_objects": tool_loop_sdk_objects,
        "tool_loop_minimal_history": tool_loop_minimal_history,
        "tool_parallel": tool_parallel,
        "tool_stream": tool_stream,
        "tool_choice": tool_choice,
        "schemas": schemas,
        "image": image,
        "images_generate": images_generate,
        "speech": speech,
        "json_schema": json_schema,
        "embeddings": embeddings,
        "models": models,
        "auth_error": auth_error,
        "rate_limit": rate_limit,
        "bad_request": bad_request,
        "midstream_error": midstream_error,
    }
)
