// The chat page: streams answers from this server's /v1/chat/completions, renders them as Markdown,
// shows thinking (reasoning_content) collapsible, stops with an AbortController (the server then
// closes its Kimi stream), continues a chat by sending the last reply's id as `conversation_id`,
// and keeps the conversation list in localStorage.
"use strict";

(() => {
  const { t, authHeaders, readText, SseParser } = window.KimiPage;
  const { render } = window.KimiMarkdown;
  const STORAGE = "kimi-gateway.conversations";
  const MODEL_STORAGE = "kimi-gateway.model";
  const $ = (id) => document.getElementById(id);
  const form = $("chat-form");
  const prompt = $("prompt");
  const modelSelect = $("model");
  const messagesBox = $("messages");
  const errorBox = $("chat-error");
  let conversations = load();
  let current = null; // the conversation shown; null until the first message of a new chat
  let controller = null;

  function load() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE)) || [];
    } catch (error) {
      return []; // unreadable storage: start afresh rather than break the page
    }
  }

  function save() {
    localStorage.setItem(STORAGE, JSON.stringify(conversations));
  }

  async function loadModels() {
    try {
      const response = await fetch("/v1/models", { headers: authHeaders("OpenAI") });
      const body = await response.json();
      if (!response.ok) throw new Error((body.error || {}).message || response.statusText);
      const ids = body.data.map((model) => model.id);
      const preferred = localStorage.getItem(MODEL_STORAGE);
      for (const id of ids) modelSelect.append(new Option(id, id, false, id === preferred));
    } catch (error) {
      showError(t("models_failed", { error: error.message }));
    }
  }

  function showError(message) {
    errorBox.hidden = !message;
    errorBox.textContent = message || "";
  }

  function renderList() {
    const list = $("conversation-list");
    list.replaceChildren();
    $("no-conversations").hidden = conversations.length > 0;
    for (const conversation of [...conversations].sort((a, b) => b.updated - a.updated)) {
      const item = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "conversation";
      open.textContent = conversation.title;
      if (current && current.id === conversation.id) open.setAttribute("aria-current", "true");
      open.addEventListener("click", () => show(conversation));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "delete";
      remove.textContent = "×";
      remove.setAttribute("aria-label", t("delete_conversation", { title: conversation.title }));
      remove.addEventListener("click", () => forget(conversation));
      item.append(open, remove);
      list.append(item);
    }
  }

  function show(conversation) {
    if (controller) return; // switching while an answer streams would write it into the wrong chat
    current = conversation;
    messagesBox.replaceChildren(...(conversation ? conversation.messages.map(messageView) : []));
    $("chat-heading").textContent = conversation ? conversation.title : t("new_chat");
    if (conversation && [...modelSelect.options].some((option) => option.value === conversation.model)) {
      modelSelect.value = conversation.model;
    }
    showError("");
    renderList();
  }

  function forget(conversation) {
    conversations = conversations.filter((other) => other.id !== conversation.id);
    save();
    if (current && current.id === conversation.id) show(null);
    else renderList();
  }

  /** The element of one message; update(message) re-renders it while the answer streams. */
  function messageView(message) {
    const article = document.createElement("article");
    article.className = `message message-${message.role}`;
    const who = document.createElement("h3");
    who.className = "visually-hidden";
    who.textContent = message.role === "user" ? t("you") : t("assistant");
    const thinking = document.createElement("details");
    thinking.className = "thinking";
    const summary = document.createElement("summary");
    const thoughts = document.createElement("div");
    thoughts.className = "thinking-text";
    thinking.append(summary, thoughts);
    const content = document.createElement("div");
    content.className = "content markdown";
    article.append(who, thinking, content);
    article.update = (state) => {
      thinking.hidden = !state.reasoning;
      summary.textContent = state.streaming && !state.content ? t("thinking_now") : t("thinking");
      thoughts.textContent = state.reasoning || "";
      if (message.role === "user") content.textContent = state.content;
      else content.innerHTML = render(state.content) + (state.note ? `<p class="note">${t(state.note)}</p>` : "");
    };
    article.update(message);
    return article;
  }

  async function send(text) {
    if (!current) {
      current = { id: crypto.randomUUID(), title: text.slice(0, 60), model: modelSelect.value,
        conversationId: null, messages: [], updated: Date.now() };
      conversations.push(current);
      $("chat-heading").textContent = current.title;
    }
    const conversation = current;
    conversation.model = modelSelect.value;
    localStorage.setItem(MODEL_STORAGE, modelSelect.value);
    conversation.messages.push({ role: "user", content: text });
    messagesBox.append(messageView(conversation.messages.at(-1)));
    const answer = { role: "assistant", content: "", reasoning: "", streaming: true };
    const view = messageView(answer);
    messagesBox.append(view);
    view.scrollIntoView({ block: "nearest" }); // on a phone the page itself scrolls, not the message box
    save();
    renderList();
    setStreaming(true);
    const body = { model: conversation.model, stream: true,
      messages: conversation.messages.map(({ role, content }) => ({ role, content })) };
    if (conversation.conversationId) body.conversation_id = conversation.conversationId;
    let frame = 0;
    const repaint = () => {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; view.update(answer); scrollDown(); });
    };
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST", signal: controller.signal, body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", ...authHeaders("OpenAI") },
      });
      if (!response.ok) {
        const failure = await response.json().catch(() => ({}));
        throw new Error((failure.error || {}).message || `${response.status} ${response.statusText}`);
      }
      const parser = new SseParser();
      for await (const piece of readText(response)) {
        for (const event of parser.feed(piece)) {
          if (event.data === "[DONE]") continue;
          const chunk = JSON.parse(event.data);
          if (chunk.error) throw new Error(chunk.error.message);
          if (chunk.id) conversation.conversationId = chunk.id; // the reply's id: continues its Kimi chat from this answer
          const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
          answer.content += delta.content || "";
          answer.reasoning += delta.reasoning_content || "";
        }
        repaint();
      }
    } catch (error) {
      if (error.name === "AbortError") answer.note = "stopped_note";
      else showError(error.message);
    } finally {
      cancelAnimationFrame(frame);
      answer.streaming = false;
      view.update(answer);
      conversation.messages.push({ role: "assistant", content: answer.content, reasoning: answer.reasoning,
        note: answer.note });
      conversation.updated = Date.now();
      save();
      setStreaming(false);
      renderList();
    }
  }

  function setStreaming(streaming) {
    controller = streaming ? new AbortController() : null;
    $("send").disabled = streaming;
    $("stop").hidden = !streaming;
    messagesBox.setAttribute("aria-busy", String(streaming));
  }

  function scrollDown() {
    messagesBox.scrollTop = messagesBox.scrollHeight;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text || controller) return;
    prompt.value = "";
    showError("");
    send(text);
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => controller && controller.abort());
  $("new-chat").addEventListener("click", () => { show(null); prompt.focus(); });

  renderList();
  loadModels();
})();
