// The docs page's try-it: build the request from an operation's inputs, send it from the browser,
// show status, headers and body (a stream is shown live as it arrives), and write cURL/Python snippets.
"use strict";

(() => {
  const { t, authHeaders, readText, SseParser, answerText, copyText, apiKey } = window.KimiPage;
  const snippets = window.KimiSnippets;

  for (const element of document.querySelectorAll(".origin")) element.textContent = location.origin;
  for (const element of document.querySelectorAll("[data-operation]")) wire(element);

  function wire(element) {
    const role = (name) => element.querySelector(`[data-role="${name}"]`);
    const example = role("example");
    if (example) example.addEventListener("change", () => { role("body").value = example.value; });
    let controller = null;
    element.addEventListener("click", async (event) => {
      const action = event.target.dataset && event.target.dataset.action;
      if (action === "execute") {
        controller = new AbortController();
        await execute(element, role, controller);
      } else if (action === "stop" && controller) {
        controller.abort();
      } else if (action === "curl" || action === "python") {
        await showSnippet(element, role, action);
      }
    });
  }

  /** {method, url, headers, body} from the operation's inputs; throws a readable Error on bad JSON. */
  function buildRequest(element, role) {
    const params = {};
    const query = new URLSearchParams();
    const headers = {};
    let path = element.dataset.path;
    for (const input of element.querySelectorAll("input[data-in]")) {
      const value = input.value.trim();
      params[input.dataset.name] = value;
      if (input.dataset.in === "path") path = path.replace(`{${input.dataset.name}}`, encodeURIComponent(value));
      else if (value && input.dataset.in === "query") query.set(input.dataset.name, value);
      else if (value && input.dataset.in === "header") headers[input.dataset.name] = value;
    }
    const request = { method: element.dataset.method, params, headers };
    const editor = role("body");
    if (editor) {
      try {
        request.body = JSON.parse(editor.value);
      } catch (error) {
        throw new Error(t("invalid_json", { error: error.message }));
      }
      request.headers["Content-Type"] = "application/json";
    }
    Object.assign(request.headers, authHeaders(element.dataset.tag));
    const search = query.toString();
    request.url = location.origin + path + (search ? `?${search}` : "");
    return request;
  }

  async function execute(element, role, controller) {
    const result = role("result");
    const [status, headersOut, bodyOut, textBox, textOut] =
      ["status", "headers", "response-body", "text-box", "text"].map(role);
    result.hidden = false;
    headersOut.textContent = bodyOut.textContent = textOut.textContent = "";
    textBox.hidden = true;
    let request;
    try {
      request = buildRequest(element, role);
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    toggleRunning(element, true);
    status.textContent = t("sending");
    const started = performance.now();
    try {
      const response = await fetch(request.url, {
        method: request.method, headers: request.headers, signal: controller.signal,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
      });
      const line = `${response.status} ${response.statusText}`;
      status.textContent = `${line} · ${t("receiving")}`;
      headersOut.textContent = [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
      const kind = response.headers.get("Content-Type") || "";
      const parser = kind.startsWith("text/event-stream") ? new SseParser() : null;
      let raw = "";
      for await (const piece of readText(response)) {
        raw += piece;
        bodyOut.append(piece); // a text node per piece: the stream shows up as it arrives
        for (const sse of parser ? parser.feed(piece) : []) appendText(textBox, textOut, parseJson(sse.data));
      }
      if (!parser && kind.includes("json")) {
        const value = parseJson(raw);
        if (value !== undefined) bodyOut.textContent = JSON.stringify(value, null, 2);
        for (const item of Array.isArray(value) ? value : [value]) appendText(textBox, textOut, item);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      status.textContent = `${line} · ${t("done_in", { seconds })}`;
    } catch (error) {
      status.textContent = error.name === "AbortError" ? t("stopped") : t("request_failed", { error: error.message });
    } finally {
      toggleRunning(element, false);
    }
  }

  function appendText(box, out, value) {
    const text = answerText(value);
    if (!text) return;
    box.hidden = false;
    out.append(text);
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return undefined; // e.g. `[DONE]`, or a body that is not JSON after all
    }
  }

  function toggleRunning(element, running) {
    element.querySelector('[data-action="stop"]').hidden = !running;
    element.querySelector('[data-action="execute"]').disabled = running;
    element.querySelector('[data-role="result"]').setAttribute("aria-busy", String(running));
  }

  async function showSnippet(element, role, kind) {
    const box = role("snippet-box");
    const note = role("snippet-note");
    box.hidden = false;
    let request;
    try {
      request = buildRequest(element, role);
    } catch (error) {
      role("snippet").textContent = "";
      note.textContent = error.message;
      return;
    }
    const op = { id: element.dataset.operation, tag: element.dataset.tag, path: element.dataset.path,
      params: request.params };
    const text = kind === "curl" ? snippets.curl(request) : snippets.python(op, request, location.origin, apiKey());
    role("snippet").textContent = text;
    note.textContent = (await copyText(text)) ? t("copied") : t("copy_manually");
  }
})();
