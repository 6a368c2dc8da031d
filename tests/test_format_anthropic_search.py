"""Kimi's web search in Anthropic's shape, streamed in Anthropic's order: the server_tool_use block, the
web_search_tool_result block, then text whose markers (split between deltas too) become citations."""
from blueprints.formats import anthropic_search
from kimi.events import Citations, Finished, Source, TextDelta, ThinkingDelta, WebSearch
from tests.test_format_anthropic import outline, stream

SOURCES = (Source("1", "https://a.example/x", "A page", snippet="What A says."), Source("2", "https://b.example/y"))
SEARCH = [ThinkingDelta("[web_search] moons\n", is_progress=True), WebSearch("web_search:1", ("moons",)),
          Citations(SOURCES), TextDelta("Many[^1"), TextDelta("^] and more[^2^]."), Finished()]


def test_search_streams_tool_use_then_results_then_text_with_citation_deltas():
    rows = outline(stream(SEARCH, search=True))
    assert rows[1:-3] == [
        ("content_block_start", 0, "server_tool_use"), ("ping",),
        ("content_block_delta", 0, "input_json_delta", None), ("content_block_stop", 0),
        ("content_block_start", 1, "web_search_tool_result"), ("content_block_stop", 1),
        ("content_block_start", 2, "text"), ("content_block_delta", 2, "text_delta", "Many[^1"),
        ("content_block_delta", 2, "text_delta", "^] and more[^2^]."),
        ("content_block_delta", 2, "citations_delta", None), ("content_block_delta", 2, "citations_delta", None)]


def test_search_blocks_carry_the_query_results_and_citation_locations():
    pairs = dict((name + str(i), data) for i, (name, data) in enumerate(stream(SEARCH, search=True)))
    use = pairs["content_block_start1"]["content_block"]
    assert (use["name"], pairs["content_block_delta3"]["delta"]["partial_json"]) == ("web_search", '{"query":"moons"}')
    result = pairs["content_block_start5"]["content_block"]
    assert result["tool_use_id"] == use["id"] and [r["url"] for r in result["content"]] == [s.url for s in SOURCES]
    citation = pairs["content_block_delta10"]["delta"]["citation"]
    assert citation == {"type": "web_search_result_location", "url": "https://a.example/x", "title": "A page",
                        "encrypted_index": "", "cited_text": "What A says."}


def test_without_the_search_tool_the_search_stays_a_thinking_line_and_a_source_list():
    kinds = [row[2] for row in outline(stream(SEARCH)) if row[0] == "content_block_start"]
    assert kinds == ["thinking", "text"]


def test_cited_sources_follow_marker_order_once_each():
    assert anthropic_search.cited_sources("b[^2^] a[^1^] b[^2^] none[^9^]", list(SOURCES)) == [SOURCES[1], SOURCES[0]]
