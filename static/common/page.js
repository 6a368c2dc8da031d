// Shared by every page: texts in the page's language, the API key kept in this browser, auth
// headers in each API's own style, and reading a response body as it arrives (fetch + ReadableStream).
"use strict";

window.KimiPage = (() => {
  const strings = JSON.parse(document.getElementById("page-strings").textContent);
  const KEY_STORAGE = "kimi-gateway.api-key";

  /** A page text with {name} placeholders filled in. */
  function t(key, values = {}) {
    const text = strings[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
  }

  function apiKey() {
    return localStorage.getItem(KEY_STORAGE) || "";
  }

  function bindKeyField() {
    const input = document.getElementById("api-key");
    if (!input) return;
    input.value = apiKey();
    input.addEventListener("input", () => {
      const value = input.value.trim();
      if (value) localStorage.setItem(KEY_STORAGE, value);
      else localStorage.removeItem(KEY_STORAGE);
    });
  }

  /** The key as each official SDK sends it; none at all when the field is empty (the server may
   * then lend its saved accounts, e.g. to callers on its own machine). */
  function authHeaders(style) {
    const key = apiKey();
    if (!key) return {};
    if (style === "Anthropic") return { "x-api-key": key };
    if (style === "Gemini") return { "x-goog-api-key": key };
    return { Authorization: `Bearer ${key}` };
  }

  /** Yields the body's text piece by piece as the network delivers it. */
  async function* readText(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        if (text) yield text;
      }
      const rest = decoder.decode();
      if (rest) yield rest;
    } finally {
      reader.releaseLock();
    }
  }

  /** Incremental server-sent-events parser: feed(text) returns the events completed by it. */
  class SseParser {
    constructor() {
      this.buffer = "";
      this.event = { event: "message", data: [] };
    }

    feed(text) {
      this.buffer += text;
      const events = [];
      let newline;
      while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = this.buffer.slice(0, newline);
        const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
        this.buffer = this.buffer.slice(newline + width);
        if (line === "") {
          if (this.event.data.length) events.push({ event: this.event.event, data: this.event.data.join("\n") });
          this.event = { event: "message", data: [] };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") this.event.data.push(value);
          else if (field === "event") this.event.event = value;
        }
      }
      return events;
    }
  }

  /** The answer text carried by one parsed chunk or whole reply of any of the three formats. */
  function answerText(value) {
    if (!value || typeof value !== "object") return "";
    if (Array.isArray(value.choices)) {
      const choice = value.choices[0] || {};
      return (choice.delta || choice.message || {}).content || "";
    }
    if (value.type === "content_block_delta") return value.delta.text || "";
    if (value.type === "message" && Array.isArray(value.content)) {
      return value.content.filter((block) => block.type === "text").map((block) => block.text).join("");
    }
    if (Array.isArray(value.candidates)) {
      const parts = ((value.candidates[0] || {}).content || {}).parts || [];
      return parts.filter((part) => !part.thought).map((part) => part.text || "").join("");
    }
    return "";
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      return false; // no clipboard permission (plain http on another host): the text stays on screen
    }
  }

  bindKeyField();
  return { t, apiKey, authHeaders, readText, SseParser, answerText, copyText };
})();
