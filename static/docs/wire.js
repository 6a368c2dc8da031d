// Wire-format checks for the doctor page: each takes a whole response body as the server sent it and
// throws a WireError at the first byte that breaks what the official SDK of that format parses.
"use strict";

window.KimiWire = (() => {
  const { t } = window.KimiPage;

  class WireError extends Error {
    constructor(offset, message) {
      super(message);
      this.offset = offset;
    }
  }

  function fail(offset, message) {
    throw new WireError(offset, message);
  }

  function expect(condition, offset, message) {
    if (!condition) fail(offset, message);
  }

  function parseJson(text, offset) {
    try {
      return JSON.parse(text);
    } catch (error) {
      const at = /position (\d+)/.exec(error.message);
      return fail(offset + (at ? Number(at[1]) : 0), t("wire_bad_json", { error: error.message }));
    }
  }

  const isInt = (value) => Number.isInteger(value) && value >= 0;

  /** Server-sent events exactly as the SDKs split them: blank-line separated blocks of `field: value`. */
  function sseEvents(raw) {
    const events = [];
    let pos = 0;
    while (pos < raw.length) {
      const end = raw.indexOf("\n\n", pos);
      expect(end >= 0, pos, t("wire_unterminated_event"));
      const fields = {};
      let lineStart = pos;
      let dataOffset = pos;
      for (const line of raw.slice(pos, end).split("\n")) {
        if (!line.startsWith(":")) {
          const field = /^([a-z]+): ?(.*)$/.exec(line);
          expect(field, lineStart, t("wire_bad_line"));
          if (field[1] === "data" && !fields.data) dataOffset = lineStart + line.indexOf(field[2]);
          (fields[field[1]] = fields[field[1]] || []).push(field[2]);
        }
        lineStart += line.length + 1;
      }
      events.push({ offset: pos, dataOffset, names: Object.keys(fields),
        event: fields.event && fields.event[0], data: (fields.data || []).join("\n") });
      pos = end + 2;
    }
    expect(events.length, 0, t("wire_empty"));
    return events;
  }

  function dataOnly(event) {
    expect(event.names.length === 1 && event.names[0] === "data", event.offset, t("wire_data_only"));
    return event;
  }

  function noError(value, offset) {
    expect(!(value && value.error), offset, t("wire_error_event", { error: JSON.stringify(value && value.error) }));
  }

  function openaiWhole(raw) {
    const body = parseJson(raw, 0);
    expect(body.object === "chat.completion", 0, t("wire_field", { field: "object", value: "chat.completion" }));
    const choice = (body.choices || [])[0] || {};
    expect(choice.message && choice.message.role === "assistant" && typeof choice.message.content === "string",
      0, t("wire_field", { field: "choices[0].message", value: "{role: assistant, content: string}" }));
    expect(body.usage && isInt(body.usage.prompt_tokens), 0, t("wire_field", { field: "usage", value: "tokens" }));
  }

  function openaiStream(raw) {
    const events = sseEvents(raw).map(dataOnly);
    let id = null;
    let finished = false;
    let done = false;
    for (const event of events) {
      expect(!done, event.offset, t("wire_expected", { expected: "end of body" }));
      if (event.data === "[DONE]") {
        expect(finished, event.offset, t("wire_field", { field: "finish_reason", value: "stop" }));
        done = true;
        continue;
      }
      const chunk = parseJson(event.data, event.dataOffset);
      noError(chunk, event.dataOffset);
      expect(chunk.object === "chat.completion.chunk", event.dataOffset,
        t("wire_field", { field: "object", value: "chat.completion.chunk" }));
      expect(id === null || chunk.id === id, event.dataOffset, t("wire_field", { field: "id", value: id }));
      id = chunk.id;
      expect(Array.isArray(chunk.choices), event.dataOffset, t("wire_field", { field: "choices", value: "[]" }));
      finished = finished || chunk.choices.some((choice) => choice.finish_reason);
    }
    expect(done, raw.length, t("wire_expected", { expected: "data: [DONE]" }));
  }

  const ANTHROPIC_DELTAS = { thinking: ["thinking_delta", "signature_delta"], text: ["text_delta"] };

  /** Anthropic's event grammar: message_start, blocks (start, deltas of the block's kind, stop) with
   * increasing indexes and pings between, message_delta, message_stop; a thinking block comes first. */
  function anthropicStream(raw) {
    const events = sseEvents(raw);
    let state = "start";
    let block = null;
    let index = -1;
    const kinds = [];
    for (const event of events) {
      expect(event.event, event.offset, t("wire_expected", { expected: "event: <name>" }));
      const data = parseJson(event.data, event.dataOffset);
      expect(data.type === event.event, event.dataOffset, t("wire_field", { field: "type", value: event.event }));
      noError(event.event === "error" ? data : null, event.dataOffset);
      const at = (expected) => t("wire_expected", { expected });
      if (event.event === "ping") continue;
      if (state === "start") {
        expect(event.event === "message_start" && data.message.role === "assistant", event.offset, at("message_start"));
        state = "between";
      } else if (state === "between" && event.event === "content_block_start") {
        index += 1;
        expect(data.index === index, event.dataOffset, t("wire_field", { field: "index", value: index }));
        block = data.content_block.type;
        kinds.push(block);
        state = "block";
      } else if (state === "block" && event.event === "content_block_delta") {
        expect(data.index === index, event.dataOffset, t("wire_field", { field: "index", value: index }));
        expect((ANTHROPIC_DELTAS[block] || []).includes(data.delta.type), event.dataOffset,
          t("wire_field", { field: "delta.type", value: (ANTHROPIC_DELTAS[block] || []).join(" | ") }));
      } else if (state === "block" && event.event === "content_block_stop") {
        expect(data.index === index, event.dataOffset, t("wire_field", { field: "index", value: index }));
        state = "between";
      } else if (state === "between" && event.event === "message_delta") {
        expect(typeof data.delta.stop_reason === "string" && isInt(data.usage.output_tokens), event.dataOffset,
          t("wire_field", { field: "delta.stop_reason, usage", value: "…" }));
        state = "delta";
      } else if (state === "delta" && event.event === "message_stop") {
        state = "stopped";
      } else {
        fail(event.offset, t("wire_unexpected_event", { event: event.event }));
      }
    }
    expect(state === "stopped", raw.length, t("wire_expected", { expected: "message_stop" }));
    expect(kinds[0] === "thinking" && kinds.includes("text"), 0, t("wire_expected", { expected: "thinking, text" }));
  }

  function geminiElement(value, offset, isLast) {
    noError(value, offset);
    const candidate = (value.candidates || [])[0];
    expect(candidate && candidate.content && Array.isArray(candidate.content.parts), offset,
      t("wire_field", { field: "candidates[0].content.parts", value: "[]" }));
    if (isLast) {
      expect(candidate.finishReason && value.usageMetadata, offset,
        t("wire_field", { field: "finishReason, usageMetadata", value: "…" }));
    }
  }

  function geminiSse(raw) {
    const events = sseEvents(raw).map(dataOnly);
    events.forEach((event, i) => geminiElement(parseJson(event.data, event.dataOffset), event.dataOffset,
      i === events.length - 1));
  }

  /** End of the JSON value starting at `start` (strings and nesting respected), or -1. */
  function valueEnd(raw, start) {
    let depth = 0;
    for (let i = start; i < raw.length; i += 1) {
      const char = raw[i];
      if (char === '"') {
        for (i += 1; i < raw.length && raw[i] !== '"'; i += raw[i] === "\\" ? 2 : 1);
      } else if (char === "{" || char === "[") {
        depth += 1;
      } else if (char === "}" || char === "]") {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }

  /** Google's streamed JSON array: `[`, elements separated by commas, `]`, each element whole. */
  function geminiArray(raw) {
    expect(raw.startsWith("["), 0, t("wire_expected", { expected: "[" }));
    const elements = [];
    let pos = 1;
    for (;;) {
      while (/\s/.test(raw[pos] || "")) pos += 1;
      expect(raw[pos] === "{", pos, t("wire_expected", { expected: "{" }));
      const end = valueEnd(raw, pos);
      expect(end > 0, pos, t("wire_unterminated_event"));
      elements.push([parseJson(raw.slice(pos, end), pos), pos]);
      for (pos = end; /\s/.test(raw[pos] || ""); pos += 1);
      if (raw[pos] === "]") break;
      expect(raw[pos] === ",", pos, t("wire_expected", { expected: ", ]" }));
      pos += 1;
    }
    expect(!raw.slice(pos + 1).trim(), pos + 1, t("wire_expected", { expected: "end of body" }));
    elements.forEach(([value, offset], i) => geminiElement(value, offset, i === elements.length - 1));
  }

  function countField(field) {
    return (raw) => {
      const body = parseJson(raw, 0);
      expect(isInt(body[field]) && body[field] > 0, 0, t("wire_field", { field, value: "integer > 0" }));
    };
  }

  return { WireError, openaiWhole, openaiStream, anthropicStream, geminiSse, geminiArray, countField };
})();
