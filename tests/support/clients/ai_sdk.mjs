// The Vercel AI SDK (`ai`) through the provider named by argv[2]: generateText, streamText, a tool the
// SDK runs itself between two steps, and a second turn from the first reply's response.messages.
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import * as s from "./scenario.mjs";

const key = s.GATEWAY_KEY;
const PROVIDERS = {
  "openai-chat": () => createOpenAI({ baseURL: `${s.GATEWAY_URL}/v1`, apiKey: key }).chat("kimi-k2.5-instant"),
  "openai-responses": () => createOpenAI({ baseURL: `${s.GATEWAY_URL}/v1`, apiKey: key }).responses("kimi-k2.5-instant"),
  anthropic: () => createAnthropic({ baseURL: `${s.GATEWAY_URL}/v1`, apiKey: key })("claude-sonnet-4-6"),
  google: () => createGoogleGenerativeAI({ baseURL: `${s.GATEWAY_URL}/v1beta`, apiKey: key })("gemini-2.5-flash"),
  "openai-compatible": () => createOpenAICompatible({ name: "kimi", baseURL: `${s.GATEWAY_URL}/v1`, apiKey: key })("kimi-k2.5-instant"),
};
const model = PROVIDERS[process.argv[2]]();
const base = { model, maxRetries: 0 };

await s.play({
  async text() {
    return (await generateText({ ...base, prompt: s.GREETING_PROMPT })).text;
  },
  async stream() {
    const pieces = [];
    for await (const delta of streamText({ ...base, prompt: s.GREETING_PROMPT }).textStream) {
      pieces.push(delta);
    }
    return { text: pieces.join(""), chunks: pieces.filter(Boolean).length };
  },
  async tool() {
    const seen = [];
    const weather = tool({
      description: s.WEATHER_TOOL.description,
      inputSchema: jsonSchema(s.WEATHER_TOOL.parameters),
      execute: async (input) => { seen.push(input); return s.TOOL_RESULT; },
    });
    const result = await generateText({ ...base, prompt: s.TOOL_PROMPT, tools: { [s.WEATHER_TOOL.name]: weather },
                                        stopWhen: stepCountIs(3) });
    const call = result.steps[0].toolCalls[0];
    return { name: call.toolName, arguments: seen[0], then: result.text, steps: result.steps.length };
  },
  async second_turn() {
    const messages = [{ role: "user", content: s.INTRODUCTION }];
    messages.push(...(await generateText({ ...base, messages })).response.messages,
                  { role: "user", content: s.NAME_QUESTION });
    return (await generateText({ ...base, messages })).text;
  },
});
