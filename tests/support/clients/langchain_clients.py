"""LangChain chat models against the gateway (`python -m tests.support.clients.langchain_clients VARIANT`,
VARIANT one of openai-chat, openai-responses, anthropic): invoke, stream, a bound tool's call and its
ToolMessage, a second turn, and a LangGraph ReAct agent that runs the tool itself."""
from __future__ import annotations

import sys

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent

from tests.support.client_kimi import GREETING_PROMPT, INTRODUCTION, NAME_QUESTION, TOOL_PROMPT, TOOL_RESULT
from tests.support.clients.scenario import GATEWAY_KEY, GATEWAY_URL, WEATHER_TOOL, play


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return TOOL_RESULT


def chat_model(variant: str):
    if variant == "anthropic":
        from langchain_anthropic import ChatAnthropic
        return ChatAnthropic(model="claude-sonnet-4-6", base_url=GATEWAY_URL, api_key=GATEWAY_KEY, max_retries=0)
    from langchain_openai import ChatOpenAI
    return ChatOpenAI(model="kimi-k2.5-instant", base_url=GATEWAY_URL + "/v1", api_key=GATEWAY_KEY, max_retries=0,
                      use_responses_api=variant == "openai-responses")


def tool_round_trip(model) -> dict:
    bound = model.bind_tools([WEATHER_TOOL])
    messages = [HumanMessage(TOOL_PROMPT)]
    first = bound.invoke(messages)
    call = first.tool_calls[0]
    messages += [first, ToolMessage(TOOL_RESULT, tool_call_id=call["id"])]
    return {"name": call["name"], "arguments": call["args"], "then": bound.invoke(messages).text}


def second_turn(model) -> str:
    messages = [HumanMessage(INTRODUCTION)]
    messages += [model.invoke(messages), HumanMessage(NAME_QUESTION)]
    return model.invoke(messages).text


def react_agent(model) -> dict:
    """The agent's final state: each message's kind, and whether the AI messages kept ids of their own
    (LangGraph's reducer replaces a message by id, so a reused id would overwrite the tool call)."""
    state = create_react_agent(model, [get_weather]).invoke({"messages": [HumanMessage(TOOL_PROMPT)]})
    messages = state["messages"]
    ai_ids = [m.id for m in messages if isinstance(m, AIMessage)]
    return {"kinds": [m.type for m in messages], "tool_calls": [c["name"] for c in messages[1].tool_calls],
            "tool_output": messages[2].content, "then": messages[-1].text, "ai_ids_distinct": len(set(ai_ids)) == 2}


def main(variant: str) -> None:
    model = chat_model(variant)
    play({"text": lambda: model.invoke(GREETING_PROMPT).text,
          "stream": lambda: [chunk.text for chunk in model.stream(GREETING_PROMPT) if chunk.text],
          "tool": lambda: tool_round_trip(model),
          "second_turn": lambda: second_turn(model),
          "agent": lambda: react_agent(model)})


if __name__ == "__main__":
    main(sys.argv[1])
