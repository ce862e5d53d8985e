/**
 * Turns the client's chat request into the upstream request for the chosen version: the version's
 * model, its prompt override (system instructions replacing or prepended to the client's, few-shot
 * demos inserted before the conversation) and its generation params (they win over the client's:
 * they are part of what is being tested). Everything else the client sent — tools,
 * response_format, seed, n, user... — passes through untouched.
 */
import type { VersionRoute } from "./routing-table.js";

type Message = { role: string; content?: unknown; [k: string]: unknown };
export type ChatBody = { model?: unknown; messages: Message[]; stream?: unknown; [k: string]: unknown };

export function applyVersion(body: ChatBody, version: VersionRoute, opts: { stream: boolean }): ChatBody {
  const out: ChatBody = { ...body, ...(version.params ?? {}), model: version.model };
  const prompt = version.prompt;
  if (prompt && (prompt.system || (prompt.demos && prompt.demos.length > 0))) {
    const leading: Message[] = [];
    const rest: Message[] = [];
    for (const m of body.messages) {
      // The client's leading system (or developer) messages are the agent's instructions.
      if (rest.length === 0 && (m.role === "system" || m.role === "developer")) leading.push(m);
      else rest.push(m);
    }
    let system: Message[] = leading;
    if (prompt.system) {
      system =
        prompt.mode === "prepend"
          ? [{ role: "system", content: prompt.system }, ...leading]
          : [{ role: "system", content: prompt.system }];
    }
    out.messages = [...system, ...(prompt.demos ?? []), ...rest];
  }
  if (opts.stream) {
    // Always ask for usage, so every streamed call is measured; the gateway strips the extra chunk
    // when the client did not ask for it.
    const so =
      typeof body.stream_options === "object" && body.stream_options !== null ? body.stream_options : {};
    out.stream_options = { ...so, include_usage: true };
  }
  return out;
}

/** Did the client itself ask for the usage chunk of a stream? */
export function clientWantsStreamUsage(body: ChatBody): boolean {
  const so = body.stream_options as { include_usage?: unknown } | undefined;
  return so?.include_usage === true;
}
