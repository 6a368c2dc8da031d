// The scenario every node client plays against the gateway (tests/test_clients_node.py), in the words
// tests/support/client_kimi.py answers; each script prints what its client parsed as one JSON line.
export const GATEWAY_URL = process.env.GATEWAY_URL;
export const GATEWAY_KEY = process.env.GATEWAY_KEY;
export const GREETING_PROMPT = "Say hello.";
export const TOOL_PROMPT = "What is the weather in Jakarta?";
export const TOOL_RESULT = "sunny, 31 C";
export const INTRODUCTION = "My name is Budi.";
export const NAME_QUESTION = "What is my name?";
export const WEATHER_TOOL = {
  name: "get_weather",
  description: "The current weather in a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string", description: "City name" } },
    required: ["city"],
  },
};

/** Runs the named steps in order and prints {step: what the client parsed}; a failing step prints its error. */
export async function play(steps) {
  const parsed = {};
  for (const [name, step] of Object.entries(steps)) {
    try {
      parsed[name] = await step();
    } catch (error) {
      parsed[name] = { error: String(error?.stack || error) };
    }
  }
  process.stdout.write(JSON.stringify(parsed) + "\n");
}
