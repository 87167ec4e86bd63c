"""LangChain's chat models against gempool: `python langchain_sdk.py <scenario>`.

`langchain-openai` (ChatOpenAI over the OpenAI SDK) and `langchain-google-genai`
(ChatGoogleGenerativeAI over the google-genai SDK, `base_url` pointing at gempool).
"""

from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_openai import ChatOpenAI

from common import GEMPOOL_KEY, GEMPOOL_URL, run


@tool
def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


def openai_chat(model="gpt-4o-mini"):
    return ChatOpenAI(model=model, base_url=f"{GEMPOOL_URL}/v1", api_key=GEMPOOL_KEY, max_retries=0)


def google_chat(model="gemini-2.5-flash"):
    return ChatGoogleGenerativeAI(model=model, google_api_key=GEMPOOL_KEY, base_url=GEMPOOL_URL, retries=0)


def tool_loop(llm):
    """bind_tools, the call, the tool's result, the answer: LangChain's agent loop by hand."""
    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage("weather? call:get_weather")]
    first = bound.invoke(messages)
    assert len(first.tool_calls) == 1, first
    call = first.tool_calls[0]
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}, call
    messages.append(first)
    messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    second = bound.invoke(messages)
    assert not second.tool_calls, second
    return second.text


def openai_invoke():
    reply = openai_chat().invoke([SystemMessage("Be terse."), HumanMessage("hello langchain")])
    assert reply.text == "echo: hello langchain", reply
    assert reply.usage_metadata["total_tokens"] > 0, reply.usage_metadata


def openai_stream():
    pieces = [chunk.text for chunk in openai_chat("gpt-6.2-sol").stream("stream langchain please")]
    assert len(pieces) > 2, pieces
    assert "".join(pieces) == "echo: stream langchain please", pieces


def openai_tools():
    text = tool_loop(openai_chat("gemini-3-pro-preview"))
    assert text == 'function results: get_weather={"output":"sunny in Paris"}' or text.startswith(
        "function results: get_weather="
    ), text
    assert "sunny in Paris" in text, text


def google_invoke():
    reply = google_chat().invoke("hello google langchain")
    assert reply.text == "echo: hello google langchain", reply


def google_stream():
    pieces = [chunk.text for chunk in google_chat().stream("stream google langchain")]
    assert len(pieces) > 1, pieces
    assert "".join(pieces) == "echo: stream google langchain", pieces


def google_tools():
    text = tool_loop(google_chat("gemini-3-flash-preview"))
    assert text.startswith("function results: get_weather="), text
    assert "sunny in Paris" in text, text


if __name__ == "__main__":
    run(
        {
            "openai_invoke": openai_invoke,
            "openai_stream": openai_stream,
            "openai_tools": openai_tools,
            "google_invoke": google_invoke,
            "google_stream": google_stream,
            "google_tools": google_tools,
        }
    )
