// @google/genai against /v1beta/models/{m}:generateContent: a text, a stream, a function-call round
// trip and a second turn through the SDK's own chat session.
import { GoogleGenAI } from "@google/genai";
import * as s from "./scenario.mjs";

const ai = new GoogleGenAI({ apiKey: s.GATEWAY_KEY, httpOptions: { baseUrl: s.GATEWAY_URL, apiVersion: "v1beta" } });
const model = "gemini-2.5-flash";
const user = (text) => ({ role: "user", parts: [{ text }] });

await s.play({
  async text() {
    return (await ai.models.generateContent({ model, contents: s.GREETING_PROMPT })).text;
  },
  async stream() {
    const pieces = [];
    for await (const chunk of await ai.models.generateContentStream({ model, contents: s.GREETING_PROMPT })) {
      pieces.push(chunk.text ?? "");
    }
    return { text: pieces.join(""), chunks: pieces.filter(Boolean).length };
  },
  async tool() {
    const config = { tools: [{ functionDeclarations: [{ name: s.WEATHER_TOOL.name, description: s.WEATHER_TOOL.description,
                                                        parametersJsonSchema: s.WEATHER_TOOL.parameters }] }] };
    const contents = [user(s.TOOL_PROMPT)];
    const first = await ai.models.generateContent({ model, contents, config });
    const call = first.functionCalls[0];
    contents.push(first.candidates[0].content,
                  { role: "user", parts: [{ functionResponse: { id: call.id, name: call.name,
                                                                 response: { result: s.TOOL_RESULT } } }] });
    const second = await ai.models.generateContent({ model, contents, config });
    return { name: call.name, arguments: call.args, then: second.text };
  },
  async second_turn() {
    const chat = ai.chats.create({ model });
    await chat.sendMessage({ message: s.INTRODUCTION });
    return (await chat.sendMessage({ message: s.NAME_QUESTION })).text;
  },
});
