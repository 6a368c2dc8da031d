"""A fake Kimi that answers the third-party client scenarios (tests/test_clients_*.py) as a model would:
a greeting, a weather tool call and its follow-up, and a name remembered from earlier in the chat
(the gateway in front of it: tests/support/client_stage.py)."""
from __future__ import annotations

from tests.support.agent_scripts import AgentKimi, has_result, offered_tools, prompt_of, split_pieces, tool_call

# The words of every scenario; tests/support/clients/scenario.mjs holds the same for the node clients.
GREETING_PROMPT, GREETING = "Say hello.", "Hello from Kimi through the gateway."
TOOL_PROMPT = "What is the weather in Jakarta?"
TOOL = "get_weather"
TOOL_ARGUMENTS = {"city": "Jakarta"}
TOOL_RESULT = "sunny, 31 C"
AFTER_TOOL = "It is sunny in Jakarta."
INTRODUCTION, INTRODUCTION_REPLY = "My name is Budi.", "Nice to meet you, Budi."
NAME_QUESTION, NAME_ANSWER = "What is my name?", "Your name is Budi."


class ClientKimi(AgentKimi):
    """Answers from the prompt and the chat's earlier turns: a continued Kimi chat gets only the new
    question, so the name must come from the chat's memory (or from a history folded into the prompt)."""

    def respond(self, prompt: str, earlier: str = "") -> str:
        if TOOL in offered_tools(prompt) and not has_tool_result(prompt):
            return "Let me check.\n" + tool_call(TOOL, TOOL_ARGUMENTS)
        if has_tool_result(prompt):
            return AFTER_TOOL
        if NAME_QUESTION in prompt:
            return NAME_ANSWER if "Budi" in earlier + prompt.replace(NAME_QUESTION, "") else "I do not know."
        if INTRODUCTION in prompt:
            return INTRODUCTION_REPLY
        return GREETING

    def _answer(self, handler, text_pieces, thinking_text):
        if text_pieces is None:
            chat_id = handler.body.get("chat_id") or handler.body.get("chatId")
            with self._lock:
                earlier = " ".join(turn["user_text"] for turn in self.chats.get(chat_id, []))
            text_pieces = split_pieces(self.respond(prompt_of(handler.body), earlier))
        return super()._answer(handler, text_pieces, thinking_text)

    def continued_turns(self) -> list[str]:
        """What Kimi got inside a chat it had already answered in (native continuation), in order: the
        new question, or TOOL_RESULT for a message carrying only the tool's result."""
        prompts = [prompt_of(r.body) for r in list(self.requests) if isinstance(r.body, dict)
                   and "message" in r.body and (r.body.get("chat_id") or r.body.get("chatId"))]
        return [TOOL_RESULT if has_tool_result(p) and TOOL_RESULT in p else p for p in prompts]


def has_tool_result(prompt: str) -> bool:
    """Whether the weather tool's result is in the prompt: with its call id, or without one (a Gemini
    functionResponse may carry none; kimi.tools.render_message_text then labels it by name alone)."""
    return has_result(prompt, TOOL) or f"[{TOOL}] " in prompt
