"""Coding agents end to end, offline: Claude Code, Gemini CLI and Codex CLI (pinned in package.json,
installed by `make test`) run headless against the gateway while the fake Kimi answers as a model
would, and finish a task that takes one tool call: write a file, then say so."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.agent_scripts import AgentKimi, RefusingProxy, ToolTask, has_result, offered_tools
from tests.support.gateways import Gateway

AGENT_BIN = ROOT / "node_modules" / ".bin"
CONTENT = "Hello from Kimi through the gateway."
TASK = f"Create a file named notes.txt containing exactly this line: {CONTENT}"
FINAL_TEXT = "DONE: file written"
RUN_SECONDS = 60  # a run takes a few seconds; the bound only keeps a hung agent from hanging CI

# Documented switches for everything an agent does besides the task: telemetry, error reports,
# update checks and auto-updaters. The network here reaches loopback only, so anything left on
# would show up as a failed run or a slow one.
CLAUDE_QUIET = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
                "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1"}
GEMINI_SETTINGS = {"general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
                   "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
                   # "gemini-api-key" with GOOGLE_GEMINI_BASE_URL: the key goes to our URL as x-goog-api-key.
                   "security": {"auth": {"selectedType": "gemini-api-key"}}}
CODEX_CONFIG = """\
model = "kimi-k2.5-instant"
model_provider = "kimi"
check_for_update_on_startup = false

[model_providers.kimi]
name = "API Kimi Gratis"
base_url = "{base_url}/v1"
env_key = "KIMI_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[feedback]
enabled = false

# The curated-plugin sync fetches github.com and chatgpt.com at start-up.
[features]
plugins = false
"""


@pytest.fixture(scope="module")
def agent_kimi():
    with AgentKimi() as fake:
        yield fake


@pytest.fixture(scope="module")
def agent_gateway(agent_kimi, tmp_path_factory):
    """The gateway on the agent fake; no server token, so every answer is paid by the caller's own."""
    tmp = tmp_path_factory.mktemp("agent-gateway")
    env = {**os.environ, "KIMI_BASE_URL": agent_kimi.url, "DATA_DIR": str(tmp / "data"), "KIMI_TOKEN": "",
           "API_KEYS": "", "WEB_CONCURRENCY": "1", "UPSTREAM_READ_TIMEOUT": "5",
           "UPSTREAM_CONNECT_TIMEOUT": "2", "LOG_LEVEL": "INFO"}
    server = Gateway(env, tmp)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def refusing_proxy():
    with RefusingProxy() as proxy:
        yield proxy


@pytest.fixture
def run(agent_kimi, agent_gateway, refusing_proxy, tmp_path):
    """A fresh home and working directory, and the fake scripted for the task."""
    agent_kimi.reset()
    refusing_proxy.asked.clear()
    yield AgentRun(agent_kimi, agent_gateway, refusing_proxy, tmp_path)
    agent_kimi.responder = None
    agent_kimi.reset()


class AgentRun:
    """One headless agent run in a throwaway HOME, and what it left behind."""

    def __init__(self, kimi: AgentKimi, gateway: Gateway, proxy: RefusingProxy, tmp: Path):
        self.kimi, self.gateway, self.proxy = kimi, gateway, proxy
        self.home, self.work = tmp / "home", tmp / "work"
        self.home.mkdir()
        self.work.mkdir()
        self.target = self.work / "notes.txt"
        self.result = None

    def script(self, tool: str, arguments: dict) -> None:
        self.kimi.responder = ToolTask(tool, arguments, FINAL_TEXT)

    def start(self, argv: list[str], env: dict) -> subprocess.CompletedProcess:
        """Run the agent to its end (its whole process group is killed if it overruns)."""
        base = {"PATH": f"{AGENT_BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(self.home),
                "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1", **self.proxy.environ()}
        process = subprocess.Popen(argv, cwd=self.work, env={**base, **env}, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=RUN_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            stdout, stderr = process.communicate()
            stderr += f"\n(killed after {RUN_SECONDS} s)"
        _kill_group(process.pid)  # helpers an agent may have left running in the background
        self.result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
        return self.result

    def report(self) -> str:
        """Everything needed to see why a run failed."""
        prompts = self.kimi.prompts()
        offered = sorted({name for p in prompts for name in offered_tools(p)})
        return "\n".join([f"exit {self.result.returncode}", "--- stdout", self.result.stdout[-3000:],
                          "--- stderr", self.result.stderr[-3000:],
                          f"--- {len(prompts)} prompts reached Kimi; tools offered: {offered}",
                          f"--- asked of the proxy: {self.proxy.asked}",
                          "--- gateway log", self.gateway.log_text()[-2000:]])

    def assert_task_done(self, tool: str, token: str) -> None:
        report = self.report()
        assert self.result.returncode == 0, report
        assert self.target.is_file() and self.target.read_text().strip() == CONTENT, report
        assert FINAL_TEXT in self.result.stdout, report
        assert self.kimi.responder.calls_answered == 1, report  # one call, then the text
        chats = [r for r in self.kimi.requests if isinstance(r.body, dict) and "message" in r.body]
        assert chats and all(r.headers["Authorization"] == f"Bearer {token}" for r in chats), report
        prompts = self.kimi.prompts()
        assert any(tool in offered_tools(prompt) for prompt in prompts), report
        assert any(has_result(prompt, tool) for prompt in prompts), report  # the result reached Kimi
        assert self.proxy.asked == [], report  # nothing but the gateway: no telemetry, updates, logins


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_claude_code_writes_the_file_and_reports(run, user_token):
    run.script("Write", {"file_path": str(run.target), "content": CONTENT})
    run.start(["claude", "-p", TASK, "--permission-mode", "acceptEdits"],
              {"ANTHROPIC_BASE_URL": run.gateway.url, "ANTHROPIC_API_KEY": user_token, **CLAUDE_QUIET})
    run.assert_task_done("Write", user_token)


def test_gemini_cli_writes_the_file_and_reports(run, user_token):
    (run.home / ".gemini").mkdir()
    (run.home / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS))
    run.script("write_file", {"file_path": str(run.target), "content": CONTENT})
    # GEMINI_CLI_TRUST_WORKSPACE: headless runs refuse an untrusted folder (trusted-folders docs).
    run.start(["gemini", "-p", TASK, "--approval-mode", "auto_edit"],
              {"GOOGLE_GEMINI_BASE_URL": run.gateway.url, "GEMINI_API_KEY": user_token,
               "GEMINI_CLI_TRUST_WORKSPACE": "true"})
    run.assert_task_done("write_file", user_token)


def test_codex_cli_writes_the_file_and_reports(run, user_token):
    (run.home / ".codex").mkdir()
    (run.home / ".codex" / "config.toml").write_text(CODEX_CONFIG.format(base_url=run.gateway.url))
    # Codex writes files through its shell tool; the command is what the fake "model" chose.
    run.script("exec_command", {"cmd": f"printf '%s\\n' {shlex.quote(CONTENT)} > notes.txt",
                                "workdir": str(run.work)})
    # danger-full-access: the command runs in a temp dir and needs no sandbox, and bubblewrap's user
    # namespaces are not available on every CI runner.
    run.start(["codex", "exec", "--skip-git-repo-check", "--ephemeral", "--sandbox", "danger-full-access",
               "--color", "never", TASK],
              {"CODEX_HOME": str(run.home / ".codex"), "KIMI_API_KEY": user_token})
    run.assert_task_done("exec_command", user_token)
