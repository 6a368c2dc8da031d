"""The responses the gateway keeps (RESPONSES_TTL): GET, DELETE and input_items through the openai
SDK, `store: false` honoured, `item_reference` items resolved to the caller's own earlier items
(continuing the chat when the history matches, folded otherwise), unknown references a 400."""
import openai
import pytest

from tests.support.jwts import make_jwt


def sent_prompt(kimi):
    return kimi.requests[-1].body["message"]["blocks"][0]["text"]["content"]


def test_a_stored_response_is_retrieved_listed_and_deleted(kimi, openai_client):
    created = openai_client.responses.create(model="kimi-latest", input="My name is Sari.")
    assert openai_client.responses.retrieve(created.id).model_dump() == created.model_dump()
    items = openai_client.responses.input_items.list(created.id)
    assert [(item.type, item.role, item.content[0].text) for item in items.data] == [
        ("message", "user", "My name is Sari.")]
    assert items.data[0].id.startswith("msg_") and items.has_more is False
    openai_client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.responses.retrieve(created.id)
    assert caught.value.body == {"message": f"Response with id '{created.id}' not found.",
                                 "type": "not_found_error", "param": "response_id", "code": None}


def test_input_items_are_listed_newest_first_unless_asked_otherwise(kimi, openai_client):
    created = openai_client.responses.create(model="kimi-latest", input=[
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"}])
    newest_first = openai_client.responses.input_items.list(created.id, limit=2)
    assert [item.content[0].text for item in newest_first.data] == ["three", "two"] and newest_first.has_more
    oldest_first = openai_client.responses.input_items.list(created.id, order="asc")
    assert [item.content[0].text for item in oldest_first.data] == ["one", "two", "three"]


def test_store_false_is_answered_but_never_kept(kimi, openai_client):
    created = openai_client.responses.create(model="kimi-latest", input="Secret", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(created.id)


def test_another_caller_never_sees_a_stored_response(kimi, gateway, openai_client):
    created = openai_client.responses.create(model="kimi-latest", input="Mine")
    other = openai.OpenAI(base_url=gateway.url + "/v1", api_key=make_jwt(sub="otheruser00000000001"),
                          max_retries=0)
    with other, pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)


def test_an_item_reference_with_the_same_history_continues_the_chat(kimi, openai_client):
    first = openai_client.responses.with_raw_response.create(model="kimi-latest", input="My name is Sari.")
    chat_id, message = first.headers["X-Conversation-Id"], first.parse().output[0]
    second = openai_client.responses.with_raw_response.create(model="kimi-latest", input=[
        {"role": "user", "content": "My name is Sari."}, {"type": "item_reference", "id": message.id},
        {"role": "user", "content": "What is my name?"}])
    assert second.headers["X-Kimi-Continuation"] == "native"
    assert kimi.requests[-1].body["chat_id"] == chat_id and sent_prompt(kimi) == "What is my name?"


def test_an_item_reference_with_another_history_is_folded_from_the_stored_item(kimi, openai_client):
    message = openai_client.responses.create(model="kimi-latest", input="Say hello.").output[0]
    second = openai_client.responses.with_raw_response.create(model="kimi-latest", input=[
        {"type": "item_reference", "id": message.id}, {"role": "user", "content": "Louder?"}])
    assert second.headers["X-Kimi-Continuation"] == "folded"
    assert f"Assistant: {message.content[0].text}\n\n" in sent_prompt(kimi)


def test_an_unknown_item_reference_is_a_400_in_openais_shape(kimi, openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="kimi-latest", input=[
            {"type": "item_reference", "id": "msg_nothing"}, {"role": "user", "content": "hi"}])
    assert caught.value.body == {"message": "Item with id 'msg_nothing' not found.",
                                 "type": "invalid_request_error", "param": "input[0].id", "code": None}
    assert kimi.requests == []


def test_a_response_failed_mid_stream_is_kept_with_its_streamed_output(kimi, openai_client):
    kimi.replay("exception_after_text.jsonl")
    events = list(openai_client.responses.create(model="kimi-latest", input="Moon?", stream=True))
    failed = events[-1].response
    assert (events[-1].type, failed.status, failed.output[0].status) == ("response.failed", "failed", "incomplete")
    assert failed.output[0].content[0].text.startswith("The moon is")
    assert openai_client.responses.retrieve(failed.id).status == "failed"
