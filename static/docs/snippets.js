// "Copy as cURL" and "copy as Python" for the docs page: the request the editor would send, as a
// shell command or as a call of the official SDK of that API format (openai, anthropic, google-genai).
"use strict";

window.KimiSnippets = (() => {
  const OPENAI_ARGUMENTS = new Set(["model", "messages", "stream", "stream_options", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "stop", "n", "seed", "user", "tools", "tool_choice",
    "response_format", "reasoning_effort", "presence_penalty", "frequency_penalty"]);
  const RESPONSES_ARGUMENTS = new Set(["model", "input", "instructions", "stream", "tools", "tool_choice",
    "previous_response_id", "reasoning", "max_output_tokens", "temperature", "top_p", "metadata", "user"]);
  const ANTHROPIC_ARGUMENTS = new Set(["model", "messages", "max_tokens", "system", "thinking",
    "stop_sequences", "metadata", "temperature", "top_p", "top_k", "tools", "tool_choice"]);

  function shellQuote(text) {
    return `'${text.replace(/'/g, `'\\''`)}'`;
  }

  /** A curl command for `request` ({method, url, headers, body}); -N shows a stream as it arrives. */
  function curl(request) {
    const lines = [`curl -sS -N -X ${request.method} ${shellQuote(request.url)}`];
    for (const [name, value] of Object.entries(request.headers)) lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
    if (request.body !== undefined) lines.push(`--data-raw ${shellQuote(JSON.stringify(request.body))}`);
    return lines.join(" \\\n  ");
  }

  /** A Python literal for a JSON value, multi-line once it is long. */
  function py(value, indent = "") {
    if (value === null) return "None";
    if (value === true) return "True";
    if (value === false) return "False";
    if (typeof value !== "object") return JSON.stringify(value);
    const inline = JSON.stringify(value, null, 1).replace(/\n\s*/g, " ");
    const inner = indent + "    ";
    if (Array.isArray(value)) {
      if (inline.length < 70) return `[${value.map((item) => py(item, indent)).join(", ")}]`;
      return `[\n${value.map((item) => inner + py(item, inner)).join(",\n")},\n${indent}]`;
    }
    const entries = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${py(item, inner)}`);
    if (inline.length < 70) return `{${entries.join(", ")}}`;
    return `{\n${entries.map((entry) => inner + entry).join(",\n")},\n${indent}}`;
  }

  /** Keyword arguments; fields the SDK has no parameter for travel in `extra_body`. */
  function kwargs(body, known, omit = []) {
    const args = [];
    const extra = {};
    for (const [key, value] of Object.entries(body || {})) {
      if (omit.includes(key)) continue;
      if (known === null || known.has(key)) args.push(`    ${key}=${py(value, "    ")},`);
      else extra[key] = value;
    }
    if (Object.keys(extra).length) args.push(`    extra_body=${py(extra, "    ")},`);
    return args.join("\n");
  }

  function openai(op, request, origin, key) {
    const head = `from openai import OpenAI\n\nclient = OpenAI(base_url="${origin}/v1", api_key=${py(key)})\n`;
    const body = request.body;
    if (op.id === "list_models") return `${head}for model in client.models.list():\n    print(model.id)\n`;
    if (op.id === "retrieve_model") return `${head}print(client.models.retrieve(${py(op.params.model_id)}))\n`;
    if (op.id === "create_response") return responses(head, body);
    const call = `client.chat.completions.create(\n${kwargs(body, OPENAI_ARGUMENTS)}\n)`;
    if (body && body.stream) {
      return `${head}stream = ${call}\nfor chunk in stream:\n    if chunk.choices:\n`
        + `        print(chunk.choices[0].delta.content or "", end="", flush=True)\nprint()\n`;
    }
    return `${head}completion = ${call}\nprint(completion.choices[0].message.content)\n`;
  }

  function responses(head, body) {
    const call = `client.responses.create(\n${kwargs(body, RESPONSES_ARGUMENTS)}\n)`;
    if (body && body.stream) {
      return `${head}stream = ${call}\nfor event in stream:\n    if event.type == "response.output_text.delta":\n`
        + `        print(event.delta, end="", flush=True)\nprint()\n`;
    }
    return `${head}response = ${call}\nprint(response.output_text)\n`;
  }

  function anthropic(op, request, origin, key) {
    const head = `import anthropic\n\nclient = anthropic.Anthropic(base_url="${origin}", api_key=${py(key)})\n`;
    const body = request.body;
    if (op.id === "count_tokens") {
      return `${head}count = client.messages.count_tokens(\n${kwargs(body, ANTHROPIC_ARGUMENTS)}\n)\n`
        + "print(count.input_tokens)\n";
    }
    if (body && body.stream) {
      return `${head}with client.messages.stream(\n${kwargs(body, ANTHROPIC_ARGUMENTS, ["stream"])}\n) as stream:\n`
        + `    for text in stream.text_stream:\n        print(text, end="", flush=True)\nprint()\n`;
    }
    return `${head}message = client.messages.create(\n${kwargs(body, ANTHROPIC_ARGUMENTS)}\n)\n`
      + "print(message.content[-1].text)\n";
  }

  function gemini(op, request, origin, key) {
    const version = op.path.startsWith("/v1/") ? `, api_version="v1"` : "";
    const head = "from google import genai\nfrom google.genai import types\n\n"
      + `client = genai.Client(api_key=${py(key)},\n`
      + `                      http_options=types.HttpOptions(base_url="${origin}"${version}))\n`;
    if (op.id.endsWith("gemini_list_models")) return `${head}for model in client.models.list():\n    print(model.name)\n`;
    if (op.id.endsWith("gemini_get_model")) return `${head}print(client.models.get(model=${py(op.params.model)}))\n`;
    const body = request.body || {};
    const config = { ...(body.generationConfig || {}) };
    if (body.systemInstruction) config.systemInstruction = body.systemInstruction;
    const args = [`    model=${py(op.params.model)},`, `    contents=${py(body.contents, "    ")},`];
    if (op.id.endsWith("count_tokens")) {
      return `${head}count = client.models.count_tokens(\n${args.join("\n")}\n)\nprint(count.total_tokens)\n`;
    }
    if (Object.keys(config).length) args.push(`    config=${py(config, "    ")},`);
    if (op.id.endsWith("stream_generate_content")) {
      return `${head}for chunk in client.models.generate_content_stream(\n${args.join("\n")}\n):\n`
        + `    print(chunk.text or "", end="", flush=True)\nprint()\n`;
    }
    return `${head}response = client.models.generate_content(\n${args.join("\n")}\n)\nprint(response.text)\n`;
  }

  const PYTHON = { OpenAI: openai, Anthropic: anthropic, Gemini: gemini };

  /** Python using the SDK of the operation's format; `op` is {id, tag, path, params}. */
  function python(op, request, origin, key) {
    return PYTHON[op.tag](op, request, origin, key || "YOUR_KIMI_AUTH_TOKEN");
  }

  return { curl, python, py };
})();
