"""Web search through every format: request switches turn Kimi's search on, and the sources Kimi
returns (search_citations.jsonl) come back where each SDK looks for them."""
import pytest
from google.genai import types

ANSWER = ("Mount Kilimanjaro in Tanzania is the tallest mountain in Africa[^1^]. "
          "Its summit, Uhuru Peak, rises about 5,895 metres above sea level[^2^].")
FIRST = "[1] Kilimanjaro: Africa's highest peak — https://www.example.org/geography/kilimanjaro"
SECOND = "[2] Climbing Uhuru Peak — https://travel.example.com/tanzania/uhuru-peak"
WITH_SOURCES = f"{ANSWER}\n\nSources:\n{FIRST}\n{SECOND}"
USER = [{"role": "user", "content": "Tallest mountain in Africa?"}]


def searched(kimi):
    return [tool["type"] for tool in kimi.requests[-1].body.get("tools", [])] == ["TOOL_TYPE_SEARCH"]


def test_openai_appends_sources_with_url_citation_annotations(kimi, openai_client):
    kimi.replay("search_citations.jsonl")
    reply = openai_client.chat.completions.create(model="kimi-latest", messages=USER, web_search_options={})
    message = reply.choices[0].message
    assert message.content == WITH_SOURCES and searched(kimi)
    spans = [message.content[a.url_citation.start_index:a.url_citation.end_index] for a in message.annotations]
    assert spans == [FIRST, SECOND] and {a.type for a in message.annotations} == {"url_citation"}
    assert [(a.url_citation.title, a.url_citation.url) for a in message.annotations][1] == (
        "Climbing Uhuru Peak", "https://travel.example.com/tanzania/uhuru-peak")


def test_openai_stream_accumulates_the_sources_and_annotations(kimi, openai_client):
    kimi.replay("search_citations.jsonl")
    with openai_client.chat.completions.stream(model="kimi-latest", messages=USER) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == WITH_SOURCES
    assert [a.url_citation.url for a in message.annotations] == [
        "https://www.example.org/geography/kilimanjaro", "https://travel.example.com/tanzania/uhuru-peak"]


def anthropic_search(client, stream, **options):
    """The final message of a request offering Anthropic's web_search server tool."""
    request = dict(model="claude-sonnet-4-6", max_tokens=1024, messages=USER,
                   tools=[{"type": "web_search_20250305", "name": "web_search"}], **options)
    if not stream:
        return client.messages.create(**request)
    with client.messages.stream(**request) as events:
        return events.get_final_message()


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_web_search_gives_server_tool_blocks_and_cited_text(kimi, anthropic_client, stream):
    kimi.replay("search_citations.jsonl")
    final = anthropic_search(anthropic_client, stream)
    use, result, text = final.content
    assert (use.type, use.name, use.input) == ("server_tool_use", "web_search", {"query": "tallest mountain in Africa"})
    assert (result.type, result.tool_use_id) == ("web_search_tool_result", use.id)
    assert [(item.type, item.url, item.title) for item in result.content] == [
        ("web_search_result", "https://www.example.org/geography/kilimanjaro", "Kilimanjaro: Africa's highest peak"),
        ("web_search_result", "https://travel.example.com/tanzania/uhuru-peak", "Climbing Uhuru Peak")]
    assert (text.type, text.text) == ("text", ANSWER)
    assert [(c.type, c.url) for c in text.citations] == [
        ("web_search_result_location", "https://www.example.org/geography/kilimanjaro"),
        ("web_search_result_location", "https://travel.example.com/tanzania/uhuru-peak")]
    assert searched(kimi) and "[Tools]" not in kimi.requests[-1].body["message"]["blocks"][0]["text"]["content"]


def test_anthropic_web_search_progress_is_thinking_only_when_thinking_was_asked_for(kimi, anthropic_client):
    kimi.replay("search_citations.jsonl")
    final = anthropic_search(anthropic_client, True, thinking={"type": "enabled", "budget_tokens": 1024})
    assert [block.type for block in final.content] == [
        "thinking", "server_tool_use", "web_search_tool_result", "thinking", "text"]
    assert final.content[0].thinking.startswith("[web_search] tallest mountain in Africa\n")


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_sources_are_grounding_chunks(kimi, gemini_client, stream):
    kimi.replay("search_citations.jsonl")
    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    if stream:
        replies = list(gemini_client.models.generate_content_stream(model="gemini-2.5-flash", contents="x",
                                                                    config=config))
    else:
        replies = [gemini_client.models.generate_content(model="gemini-2.5-flash", contents="x", config=config)]
    chunks = replies[-1].candidates[0].grounding_metadata.grounding_chunks
    assert [(chunk.web.uri, chunk.web.title) for chunk in chunks] == [
        ("https://www.example.org/geography/kilimanjaro", "Kilimanjaro: Africa's highest peak"),
        ("https://travel.example.com/tanzania/uhuru-peak", "Climbing Uhuru Peak")]
    assert "".join(reply.text or "" for reply in replies) == ANSWER and searched(kimi)


def test_responses_output_text_carries_url_citations(kimi, openai_client):
    kimi.replay("search_citations.jsonl")
    response = openai_client.responses.create(model="kimi-latest", input="x", tools=[{"type": "web_search"}])
    content = response.output[-1].content[0]  # after the search progress, shown as reasoning
    assert response.output_text == WITH_SOURCES and searched(kimi)
    assert [content.text[a.start_index:a.end_index] for a in content.annotations] == [FIRST, SECOND]


def test_search_stays_off_without_a_switch(kimi, openai_client):
    openai_client.chat.completions.create(model="kimi-latest", messages=USER)
    assert "tools" not in kimi.requests[-1].body or not searched(kimi)
