"""The official Google Gen AI Python SDK (google-genai) against gempool: `python genai_sdk.py <scenario>`."""

from google import genai
from google.genai import errors, types

from common import GEMPOOL_KEY, GEMPOOL_URL, PNG_1X1, expect_raises, run

FLASH = "gemini-2.5-flash"


def client(key=None):
    return genai.Client(
        api_key=key or GEMPOOL_KEY or "anything",
        http_options=types.HttpOptions(base_url=GEMPOOL_URL, retry_options=types.HttpRetryOptions(attempts=1)),
    )


def text():
    c = client()
    resp = c.models.generate_content(
        model=FLASH,
        contents="hello there",
        config=types.GenerateContentConfig(system_instruction="Be terse.", temperature=0.2, max_output_tokens=100),
    )
    assert resp.text == "echo: hello there", resp.text
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP, resp.candidates[0].finish_reason
    usage = resp.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0, usage
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + (usage.thoughts_token_count or 0)
    # Image part and thinking.
    resp = c.models.generate_content(
        model=FLASH,
        contents=[types.Part.from_bytes(data=PNG_1X1, mime_type="image/png"), "describe this"],
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=512)),
    )
    assert resp.text == "echo: describe this", resp.text
    assert any(p.thought for p in resp.candidates[0].content.parts), resp.candidates[0].content.parts
    assert resp.usage_metadata.thoughts_token_count > 0, resp.usage_metadata


def stream():
    c = client()  # keep a reference: a collected Client closes its HTTP client
    chunks = list(c.models.generate_content_stream(model=FLASH, contents="stream these words"))
    assert len(chunks) > 1, chunks
    text = "".join(c.text or "" for c in chunks)
    assert text == "echo: stream these words", repr(text)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0, chunks[-1].usage_metadata


def tools():
    c = client()
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather in a city",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[weather])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    model = "gemini-3-pro-preview"
    first = c.models.generate_content(model=model, contents="call:get_weather", config=config)
    calls = first.function_calls
    assert calls and calls[0].name == "get_weather" and calls[0].args == {"city": "Paris"}, calls
    history = [
        types.Content(role="user", parts=[types.Part.from_text(text="call:get_weather")]),
        first.candidates[0].content,
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={"temp": 20})]
        ),
    ]
    second = c.models.generate_content(model=model, contents=history, config=config)
    assert second.text == 'function results: get_weather={"temp":20}', second.text


def count_tokens():
    c = client()
    counted = c.models.count_tokens(model=FLASH, contents="one two three")
    assert counted.total_tokens == 3, counted


def embed():
    c = client()
    resp = c.models.embed_content(model="gemini-embedding-001", contents="hello world")
    assert len(resp.embeddings) == 1 and len(resp.embeddings[0].values) == 3072, resp
    resp = c.models.embed_content(
        model="gemini-embedding-001",
        contents=["one", "two"],
        config=types.EmbedContentConfig(output_dimensionality=64, task_type="RETRIEVAL_DOCUMENT"),
    )
    assert [len(e.values) for e in resp.embeddings] == [64, 64], resp


def models():
    c = client()
    names = [m.name for m in c.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gemini-embedding-001" in names, names
    one = c.models.get(model="gemini-2.5-pro")
    assert one.name == "models/gemini-2.5-pro" and one.input_token_limit, one


def auth_error():
    good = client()
    assert good.models.generate_content(model=FLASH, contents="hi").text == "echo: hi"
    bad = client(key="gp-not-a-real-key")
    err = expect_raises(
        errors.ClientError, lambda: bad.models.generate_content(model=FLASH, contents="hi"), "bad client key"
    )
    assert err.code == 401, f"code {err.code}: {err}"
    err = expect_raises(
        errors.ClientError,
        lambda: list(bad.models.generate_content_stream(model=FLASH, contents="hi")),
        "bad client key (stream)",
    )
    assert err.code == 401, err


def rate_limit():
    c = client()
    err = expect_raises(errors.ClientError, lambda: c.models.generate_content(model=FLASH, contents="hi"), "rate limited")
    assert err.code == 429, f"code {err.code}: {err}"
    assert err.status == "RESOURCE_EXHAUSTED", err.status


def midstream_error():
    seen = []
    c = client()

    def consume():
        for chunk in c.models.generate_content_stream(model=FLASH, contents="a long answer that breaks"):
            seen.append(chunk)

    err = expect_raises(errors.APIError, consume, "mid-stream upstream error")
    assert err.code == 503, err


def files():
    """A 5 MB upload, then generate_content naming it across calls while the pool rotates."""
    import io

    c = client()
    data = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    f = c.files.upload(file=io.BytesIO(data), config=types.UploadFileConfig(mime_type="application/pdf", display_name="report"))
    assert f.name.startswith("files/"), f
    assert f.size_bytes == len(data), f.size_bytes
    assert f.state == types.FileState.ACTIVE, f.state
    assert c.files.get(name=f.name).display_name == "report"
    for i in range(4):
        resp = c.models.generate_content(
            model=FLASH, contents=[types.Part.from_uri(file_uri=f.uri, mime_type="application/pdf"), f"summarize {i}"]
        )
        assert resp.text == f"echo: summarize {i}", resp.text
        # Requests without the file go on rotating between the keys.
        assert c.models.generate_content(model=FLASH, contents="plain").text == "echo: plain"
    assert f.name in [x.name for x in c.files.list()]
    c.files.delete(name=f.name)
    err = expect_raises(errors.ClientError, lambda: c.files.get(name=f.name), "a deleted file")
    assert err.code == 404, err


def caches():
    import io

    c = client()
    f = c.files.upload(file=io.BytesIO(b"a long document " * 100), config=types.UploadFileConfig(mime_type="text/plain"))
    cache = c.caches.create(
        model=FLASH,
        config=types.CreateCachedContentConfig(
            contents=[types.Content(role="user", parts=[types.Part.from_uri(file_uri=f.uri, mime_type="text/plain")])],
            system_instruction="Be terse.",
            ttl="300s",
            display_name="ctx",
        ),
    )
    assert cache.name.startswith("cachedContents/"), cache
    for i in range(3):
        resp = c.models.generate_content(
            model=FLASH, contents=f"question {i}", config=types.GenerateContentConfig(cached_content=cache.name)
        )
        assert resp.text == f"echo: question {i}", resp.text
    updated = c.caches.update(name=cache.name, config=types.UpdateCachedContentConfig(ttl="600s"))
    assert updated.expire_time > cache.expire_time, (updated.expire_time, cache.expire_time)
    assert cache.name in [x.name for x in c.caches.list()]
    c.caches.delete(name=cache.name)


def finished(c, job):
    """Polls a batch job until it succeeds (the mock finishes one on its second poll)."""
    import time

    assert job.name.startswith("batches/"), job
    for _ in range(10):
        job = c.batches.get(name=job.name)
        if job.state == types.JobState.JOB_STATE_SUCCEEDED:
            break
        time.sleep(0.05)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED, job.state
    return job


def batch():
    c = client()
    job = c.batches.create(
        model=FLASH,
        src=[
            {"contents": [{"parts": [{"text": "first"}], "role": "user"}]},
            {"contents": [{"parts": [{"text": "second"}], "role": "user"}]},
        ],
        config={"display_name": "nightly"},
    )
    job = finished(c, job)
    texts = [r.response.text for r in job.dest.inlined_responses]
    assert texts == ["echo: first", "echo: second"], texts
    assert job.name in [j.name for j in c.batches.list()]
    c.batches.delete(name=job.name)


def embed_batch():
    import warnings

    c = client()
    with warnings.catch_warnings():
        # create_embeddings is marked experimental by the SDK.
        warnings.simplefilter("ignore")
        job = c.batches.create_embeddings(
            model="gemini-embedding-001",
            src={"inlined_requests": {"contents": ["first text", "second text"], "config": {"output_dimensionality": 8}}},
        )
    job = finished(c, job)
    answers = job.dest.inlined_embed_content_responses
    assert len(answers) == 2, job.dest
    for answer in answers:
        assert len(answer.response.embedding.values) == 8, answer
    c.batches.delete(name=job.name)


run(
    {
        "text": text,
        "stream": stream,
        "tools": tools,
        "count_tokens": count_tokens,
        "embed": embed,
        "models": models,
        "auth_error": auth_error,
        "rate_limit": rate_limit,
        "midstream_error": midstream_error,
        "files": files,
        "caches": caches,
        "batch": batch,
        "embed_batch": embed_batch,
    }
)
