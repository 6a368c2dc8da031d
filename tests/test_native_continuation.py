"""Native continuation end to end: a stateless client's next turn goes into the Kimi chat that answered
its history, as the new turn only, whichever gateway process or worker serves it (two gunicorn processes
on one store); anything else starts a new chat. With DELETE_CHATS, the chat goes when its entry expires."""
import anthropic
import openai
import requests
from google import genai
from google.genai import types

from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.turn_gateways"]

MODEL = "kimi-k2.5-instant"
SYSTEM = {"role": "system", "content": "Answer in one line."}


def ask_raw(gateway, token, messages):
    """The raw reply (headers, then .parse()) of one stateless OpenAI SDK request."""
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)


def ask(gateway, token, messages):
    """(X-Kimi-Continuation, the reply) of one stateless OpenAI SDK request."""
    raw = ask_raw(gateway, token, messages)
    return raw.headers["X-Kimi-Continuation"], raw.parse()


def converse(gateways, token, questions, history=(SYSTEM,)):
    """Ask each question with the whole history so far, alternating gateways; (modes, history, the
    Kimi chat of each reply, from X-Conversation-Id)."""
    history, modes, chats = list(history), [], []
    for number, question in enumerate(questions):
        history.append({"role": "user", "content": question})
        raw = ask_raw(gateways[number % len(gateways)], token, history)
        history.append({"role": "assistant", "content": raw.parse().choices[0].message.content})
        modes.append(raw.headers["X-Kimi-Continuation"])
        chats.append(raw.headers["X-Conversation-Id"])
    return modes, history, chats


def sent_texts(kimi):
    return [r.body["message"]["blocks"][0]["text"]["content"] for r in kimi.requests if r.body and "message" in r.body]


def test_three_stateless_turns_make_one_chat_and_later_turns_carry_only_the_new_question(
        turn_kimi, native_gateways, user_token):
    modes, _, chats = converse(native_gateways, user_token, ["Name a river.", "And a lake?", "And a sea?"])
    assert modes == ["new", "native", "native"]
    assert len(turn_kimi.chats) == 1 and set(chats) == set(turn_kimi.chats)
    turns = turn_kimi.chats[chats[0]]
    assert [t["user_text"] for t in turns][1:] == ["And a lake?", "And a sea?"]
    assert sent_texts(turn_kimi)[1:] == ["And a lake?", "And a sea?"]
    assert [t["parent_id"] for t in turns][1:] == [turns[0]["assistant_id"], turns[1]["assistant_id"]]


def test_an_edited_earlier_turn_starts_a_new_folded_chat(turn_kimi, native_gateways, user_token):
    _, history, _ = converse(native_gateways, user_token, ["Name a bird.", "And a fish?"])
    history[2] = {**history[2], "content": "Blackbird (edited by the user)."}
    mode, reply = ask(native_gateways[0], user_token, history + [{"role": "user", "content": "And a tree?"}])
    assert mode == "folded" and len(turn_kimi.chats) == 2
    assert sent_texts(turn_kimi)[-1].startswith("[System instructions]\nAnswer in one line.")


def test_a_regenerated_answer_starts_a_new_chat(turn_kimi, native_gateways, user_token):
    _, history, _ = converse(native_gateways, user_token, ["Name a planet.", "And a moon?"])
    mode, _ = ask(native_gateways[1], user_token, history[:-1])  # the client asks for "And a moon?" again
    assert mode == "folded" and len(turn_kimi.chats) == 2


def test_another_callers_copy_of_a_history_does_not_reach_the_first_callers_chat(turn_kimi, native_gateways, user_token):
    _, history, _ = converse(native_gateways, user_token, ["Name a metal."])
    stranger = make_jwt(sub="strangerstranger0001")
    mode, _ = ask(native_gateways[0], stranger, history + [{"role": "user", "content": "And a gas?"}])
    assert mode == "folded" and len(turn_kimi.chats) == 2


def test_pooled_accounts_continue_natively_too(turn_kimi, native_gateways, server_token):
    modes, _, _ = converse(native_gateways, "no-key-on-loopback", ["Name a colour.", "And a shape?"])
    assert modes == ["new", "native"] and len(turn_kimi.chats) == 1
    assert {r.headers["Authorization"] for r in turn_kimi.requests} == {f"Bearer {server_token}"}


def test_a_chat_deleted_on_kimi_is_replaced_by_a_folded_one(turn_kimi, native_gateways, user_token):
    _, history, chats = converse(native_gateways, user_token, ["Name a fruit."])
    turn_kimi.chats.pop(chats[0])  # the user deleted it on turn_kimi.com
    mode, _ = ask(native_gateways[0], user_token, history + [{"role": "user", "content": "And a nut?"}])
    assert mode == "folded" and len(turn_kimi.chats) == 1 and chats[0] not in turn_kimi.chats


def test_with_chat_hygiene_the_chat_is_deleted_once_when_its_entry_expires(turn_kimi, native_gateways, user_token):
    _, _, chats = converse(native_gateways, user_token, ["Name a city.", "And a village?"])
    chat_id = chats[0]
    assert chats[1] == chat_id  # still there for the second turn: not deleted after the first reply
    assert turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats, timeout=15)  # NATIVE_CONTINUATION_TTL is 4 s
    assert turn_kimi.deleted_chats.count(chat_id) == 1  # the first turn's process stood down


def test_anthropic_sdk_conversation_continues_natively(turn_kimi, native_gateways, user_token):
    history = [{"role": "user", "content": "Name a composer."}]
    modes = []
    for number, follow_up in enumerate(["And a painter?", "And a poet?"]):
        with anthropic.Anthropic(base_url=native_gateways[number].url, api_key=user_token, max_retries=0) as client:
            raw = client.messages.with_raw_response.create(model="claude-sonnet-4-6", max_tokens=100,
                                                          system="Be brief.", messages=history)
        modes.append(raw.headers["X-Kimi-Continuation"])
        history += [{"role": "assistant", "content": raw.parse().content[0].text},
                    {"role": "user", "content": follow_up}]
    assert modes == ["new", "native"] and len(turn_kimi.chats) == 1
    assert sent_texts(turn_kimi)[-1] == "And a painter?"


def test_gemini_sdk_conversation_continues_natively(turn_kimi, native_gateways, user_token):
    contents = [types.Content(role="user", parts=[types.Part(text="Name an ocean.")])]
    modes = []
    for number, follow_up in enumerate(["And a desert?", "And a glacier?"]):
        options = types.HttpOptions(base_url=native_gateways[number].url, api_version="v1beta",
                                    retry_options=types.HttpRetryOptions(attempts=1))
        with genai.Client(api_key=user_token, http_options=options) as client:
            reply = client.models.generate_content(model="gemini-2.5-flash", contents=contents)
        modes.append(reply.sdk_http_response.headers["x-kimi-continuation"])
        contents += [reply.candidates[0].content, types.Content(role="user", parts=[types.Part(text=follow_up)])]
    assert modes == ["new", "native"] and len(turn_kimi.chats) == 1
    assert sent_texts(turn_kimi)[-1] == "And a desert?"


def test_native_continuation_header_on_a_stream(turn_kimi, native_gateways, user_token):
    _, history, _ = converse(native_gateways, user_token, ["Name a tool."])
    with requests.post(native_gateways[1].url + "/v1/chat/completions", stream=True, timeout=10,
                       headers={"Authorization": f"Bearer {user_token}"},
                       json={"model": MODEL, "stream": True,
                             "messages": history + [{"role": "user", "content": "And a machine?"}]}) as response:
        assert response.headers["X-Kimi-Continuation"] == "native"
        assert response.content.endswith(b"data: [DONE]\n\n")
    assert sent_texts(turn_kimi)[-1] == "And a machine?"


def test_of_several_own_tokens_the_one_holding_the_chat_continues_it(turn_kimi, native_gateways, user_token):
    other = make_jwt(sub="secondtokensecond001")
    modes, _, _ = converse(native_gateways, f"{user_token},{other}", ["Name a song.", "And a dance?", "And a film?"])
    chats = [r for r in turn_kimi.requests if r.path.endswith("/Chat")]
    assert modes == ["new", "native", "native"] and len({r.headers["Authorization"] for r in chats}) == 1
