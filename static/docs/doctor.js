// The doctor page: sends requests shaped like each official SDK's through this server and checks the
// bytes that come back with static/docs/wire.js, reporting the first wrong byte on a failure.
"use strict";

window.KimiDoctor = (() => {
  const { t, authHeaders, readText } = window.KimiPage;
  const { WireError, openaiWhole, openaiStream, anthropicStream, geminiSse, geminiArray, countField } = window.KimiWire;

  const PROMPT = "Halo! Balas dengan satu kalimat.";
  const ANTHROPIC_HEADERS = { "anthropic-version": "2023-06-01" };
  const GEMINI_BODY = { contents: [{ role: "user", parts: [{ text: PROMPT }] }] };
  const GEMINI_MODEL = "/v1beta/models/gemini-2.5-flash";

  const CHECKS = [
    { client: "openai", name: "chat.completions.create", format: "OpenAI", path: "/v1/chat/completions",
      body: { model: "kimi-k2.5-instant", messages: [{ role: "user", content: PROMPT }] }, verify: openaiWhole },
    { client: "openai", name: "chat.completions.create(stream=True)", format: "OpenAI", path: "/v1/chat/completions",
      body: { model: "kimi-k2.5-thinking", stream: true, stream_options: { include_usage: true },
        messages: [{ role: "user", content: PROMPT }] }, verify: openaiStream },
    { client: "anthropic", name: "messages.stream (thinking)", format: "Anthropic", path: "/v1/messages",
      headers: ANTHROPIC_HEADERS, verify: anthropicStream,
      body: { model: "claude-sonnet-4-6", max_tokens: 2048, stream: true, thinking: { type: "adaptive" },
        messages: [{ role: "user", content: PROMPT }] } },
    { client: "anthropic", name: "messages.count_tokens", format: "Anthropic", path: "/v1/messages/count_tokens",
      headers: ANTHROPIC_HEADERS, verify: countField("input_tokens"),
      body: { model: "claude-sonnet-4-6", messages: [{ role: "user", content: PROMPT }] } },
    { client: "google-genai", name: "generate_content_stream (SSE)", format: "Gemini",
      path: `${GEMINI_MODEL}:streamGenerateContent?alt=sse`, body: GEMINI_BODY, verify: geminiSse },
    { client: "google-genai", name: "streamGenerateContent (JSON array)", format: "Gemini",
      path: `${GEMINI_MODEL}:streamGenerateContent`, body: GEMINI_BODY, verify: geminiArray },
    { client: "google-genai", name: "count_tokens", format: "Gemini", path: `${GEMINI_MODEL}:countTokens`,
      body: GEMINI_BODY, verify: countField("totalTokens") },
  ];

  /** {ok, ms} or {ok: false, byte, message, context} for one check against this server. */
  async function run(check) {
    const started = performance.now();
    let raw = "";
    try {
      const response = await fetch(check.path, {
        method: "POST", body: JSON.stringify(check.body),
        headers: { "Content-Type": "application/json", ...(check.headers || {}), ...authHeaders(check.format) },
      });
      for await (const piece of readText(response)) raw += piece;
      if (!response.ok) throw new WireError(0, t("wire_status", { status: response.status }));
      check.verify(raw);
      return { ok: true, ms: Math.round(performance.now() - started) };
    } catch (error) {
      const offset = error instanceof WireError ? error.offset : 0;
      return { ok: false, message: error.message, byte: new TextEncoder().encode(raw.slice(0, offset)).length,
        context: raw.slice(offset, offset + 120) };
    }
  }

  function row(check) {
    const tr = document.createElement("tr");
    const [client, name, result] = [0, 1, 2].map(() => document.createElement("td"));
    client.innerHTML = "<code></code>";
    client.firstChild.textContent = check.client;
    name.textContent = `${check.name} · POST ${check.path}`;
    result.textContent = "…";
    tr.append(client, name, result);
    return [tr, result];
  }

  function show(cell, outcome) {
    cell.replaceChildren();
    const verdict = document.createElement("strong");
    verdict.className = outcome.ok ? "pass" : "fail";
    verdict.textContent = outcome.ok ? t("pass", { ms: outcome.ms }) : t("fail");
    cell.append(verdict);
    if (!outcome.ok) {
      const detail = document.createElement("p");
      detail.textContent = t("fail_detail", { byte: outcome.byte, message: outcome.message });
      const context = document.createElement("pre");
      context.textContent = outcome.context || t("wire_nothing");
      cell.append(detail, context);
    }
  }

  async function runAll() {
    const button = document.getElementById("run-checks");
    const summary = document.getElementById("doctor-summary");
    const tbody = document.getElementById("checks");
    button.disabled = true;
    summary.textContent = t("checks_running");
    tbody.replaceChildren();
    let passed = 0;
    for (const check of CHECKS) { // one at a time: a report reads in order, and Kimi sees no burst
      const [tr, cell] = row(check);
      tbody.append(tr);
      const outcome = await run(check);
      passed += outcome.ok ? 1 : 0;
      show(cell, outcome);
    }
    summary.textContent = t("checks_done", { passed, total: CHECKS.length });
    button.disabled = false;
  }

  const button = document.getElementById("run-checks");
  if (button) button.addEventListener("click", runAll);
  return { checks: CHECKS };
})();
