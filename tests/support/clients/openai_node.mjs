// openai-node against /v1/chat/completions: a text, a stream, a tool round trip and a second turn.
import OpenAI from "openai";
import * as s from "./scenario.mjs";

const client = new OpenAI({ baseURL: `${s.GATEWAY_URL}/v1`, apiKey: s.GATEWAY_KEY, maxRetries: 0 });
const model = "kimi-k2.5-instant";
const ask = (messages, extra = {}) => client.chat.completions.create({ model, messages, ...extra });
const user = (content) => ({ role: "user", content });

await s.play({
  async text() {
    return (await ask([user(s.GREETING_PROMPT)])).choices[0].message.content;
  },
  async stream() {
    const pieces = [];
    for await (const chunk of await ask([user(s.GREETING_PROMPT)], { stream: true })) {
      pieces.push(chunk.choices[0]?.delta?.content ?? "");
    }
    return { text: pieces.join(""), chunks: pieces.filter(Boolean).length };
  },
  async tool() {
    const tools = [{ type: "function", function: s.WEATHER_TOOL }];
    const messages = [user(s.TOOL_PROMPT)];
    const first = (await ask(messages, { tools })).choices[0];
    const call = first.message.tool_calls[0];
    messages.push(first.message, { role: "tool", tool_call_id: call.id, content: s.TOOL_RESULT });
    const second = (await ask(messages, { tools })).choices[0];
    return { finish_reason: first.finish_reason, name: call.function.name,
             arguments: JSON.parse(call.function.arguments), then: second.message.content };
  },
  async second_turn() {
    const messages = [user(s.INTRODUCTION)];
    messages.push((await ask(messages)).choices[0].message, user(s.NAME_QUESTION));
    return (await ask(messages)).choices[0].message.content;
  },
});
