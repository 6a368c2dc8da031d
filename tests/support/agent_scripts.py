"""Scripting for coding-agent runs: a fake Kimi that answers each prompt through a responder, a
responder that plays a one-tool-call task as Kimi would under kimi/tools.py's prompt protocol, and a
proxy that refuses and notes every request an agent sends anywhere but the gateway."""
from __future__ import annotations

import json
import re
import socketserver
import threading
from typing import Callable, Optional

from tests.support.fake_kimi import FakeKimi

OPEN_TAG, CLOSE_TAG = "<tool_call>", "</tool_call>"
TOOLS_HEADER, TOOLS_LIST = "[Tools]", "Available tools:\n"
# Each tool is "- <name>: <description, any number of lines>\n  parameters: <schema on one line>".
_TOOL_SCHEMA = re.compile(r"^  parameters: (\{.*\})$", re.M)
# Gemini's responseMimeType application/json reaches Kimi as this instruction (formats/gemini_request.py).
JSON_ONLY = "Answer with JSON only"
_JSON_SCHEMA = re.compile(r"JSON Schema:\n(\{.*\})$", re.M)

Responder = Callable[[str], str]


class AgentKimi(FakeKimi):
    """A FakeKimi whose unscripted Chat requests are answered by `responder(prompt)` instead of an
    echo; auth, chat memory and frame order stay the fake's own. An agent sends several requests
    (helpers, probes, the task itself) in no fixed order, so a queue of answers cannot script it."""

    def __init__(self):
        super().__init__()
        self.responder: Optional[Responder] = None

    def prompts(self) -> list[str]:
        """The prompt of every Chat request so far, in arrival order."""
        return [prompt_of(r.body) for r in list(self.requests) if isinstance(r.body, dict) and "message" in r.body]

    def _answer(self, handler, text_pieces, thinking_text):
        if text_pieces is None and self.responder is not None:
            text_pieces = split_pieces(self.responder(prompt_of(handler.body)))
            thinking_text = "Planning the next step."  # sent only when the request asked for thinking
        return super()._answer(handler, text_pieces, thinking_text)


class ToolTask:
    """Answers like a model doing a one-call task: the call of `tool` first; once the call's result
    is back, the final text. Helper requests (JSON-only classifiers, titles, probes without the
    tool) get an answer of their own kind, never the call."""

    def __init__(self, tool: str, arguments: dict, final_text: str):
        self.tool, self.arguments, self.final_text = tool, arguments, final_text
        self.calls_answered = 0

    def __call__(self, prompt: str) -> str:
        if JSON_ONLY in prompt:
            schema = _JSON_SCHEMA.search(prompt)
            return json.dumps(sample_json(json.loads(schema.group(1)) if schema else {}))
        if self.tool not in offered_tools(prompt) or has_result(prompt, self.tool):
            return self.final_text
        self.calls_answered += 1
        return "I will do that now.\n" + tool_call(self.tool, self.arguments)


def prompt_of(body: dict) -> str:
    """The user text of a recorded Chat request body."""
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    blocks = message.get("blocks") or [{}]
    return str(((blocks[0] or {}).get("text") or {}).get("content", ""))


def split_pieces(text: str, size: int = 7) -> list[str]:
    """The text in small pieces, so tags are cut across frames as Kimi's streaming cuts them."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def offered_tools(prompt: str) -> dict[str, dict]:
    """name -> JSON schema of every tool listed in the prompt's [Tools] section."""
    header = prompt.find(TOOLS_HEADER)
    start = prompt.find(TOOLS_LIST, header) if header >= 0 else -1
    if start < 0:
        return {}
    tools, entry_start = {}, start + len(TOOLS_LIST)
    for schema in _TOOL_SCHEMA.finditer(prompt, entry_start):
        name = re.match(r"- (.+?): ", prompt[entry_start:schema.start()])
        if not name:
            break  # past the tool list
        tools[name.group(1)] = json.loads(schema.group(1))
        entry_start = schema.end() + 1
    return tools


def tool_call(name: str, arguments: dict) -> str:
    """One call in the syntax Kimi is taught."""
    return OPEN_TAG + json.dumps({"name": name, "arguments": arguments}) + CLOSE_TAG


def has_result(prompt: str, tool: str) -> bool:
    """Whether a result of `tool` came back in this prompt, labelled as kimi.tools.render_message_text
    labels it. A continued Kimi chat gets only the result; a folded history has the call before it."""
    return f"[{tool} (call " in prompt


def sample_json(schema: dict):
    """A small value that satisfies a JSON (or Google upper-case) schema: first enum value, every
    property of an object filled in."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        return {key: sample_json(sub) for key, sub in (schema.get("properties") or {}).items()}
    return {"string": "ok", "integer": 1, "number": 1, "boolean": False, "array": []}.get(kind)


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that refuses every request and notes its first line: where an
    agent tried to go besides the gateway (agents honour HTTPS_PROXY; NO_PROXY keeps loopback direct)."""

    def __init__(self):
        self.asked: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline(4096).decode("latin-1").strip()
                if line:
                    proxy.asked.append(line)
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def environ(self) -> dict[str, str]:
        """Proxy variables in both spellings, as different HTTP stacks read one or the other."""
        names = {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "NO_PROXY": "127.0.0.1,localhost"}
        return {**names, **{key.lower(): value for key, value in names.items()}}

    def __enter__(self) -> "RefusingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
