// @anthropic-ai/sdk against /v1/messages: a text, a stream, a tool round trip and a second turn.
import Anthropic from "@anthropic-ai/sdk";
import * as s from "./scenario.mjs";

const client = new Anthropic({ baseURL: s.GATEWAY_URL, apiKey: s.GATEWAY_KEY, maxRetries: 0 });
const model = "claude-sonnet-4-6";
const ask = (messages, extra = {}) => client.messages.create({ model, max_tokens: 200, messages, ...extra });
const user = (content) => ({ role: "user", content });
const textOf = (message) => message.content.filter((b) => b.type === "text").map((b) => b.text).join("");

await s.play({
  async text() {
    return textOf(await ask([user(s.GREETING_PROMPT)]));
  },
  async stream() {
    const pieces = [];
    const stream = client.messages.stream({ model, max_tokens: 200, messages: [user(s.GREETING_PROMPT)] });
    stream.on("text", (delta) => pieces.push(delta));
    const final = await stream.finalMessage();
    return { text: pieces.join(""), chunks: pieces.length, final: textOf(final) };
  },
  async tool() {
    const tools = [{ name: s.WEATHER_TOOL.name, description: s.WEATHER_TOOL.description,
                     input_schema: s.WEATHER_TOOL.parameters }];
    const messages = [user(s.TOOL_PROMPT)];
    const first = await ask(messages, { tools });
    const call = first.content.find((b) => b.type === "tool_use");
    messages.push({ role: "assistant", content: first.content },
                  user([{ type: "tool_result", tool_use_id: call.id, content: s.TOOL_RESULT }]));
    const second = await ask(messages, { tools });
    return { stop_reason: first.stop_reason, name: call.name, arguments: call.input, then: textOf(second) };
  },
  async second_turn() {
    const messages = [user(s.INTRODUCTION)];
    const first = await ask(messages);
    messages.push({ role: "assistant", content: first.content }, user(s.NAME_QUESTION));
    return textOf(await ask(messages));
  },
});
