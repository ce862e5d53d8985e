/** `agentgate upstreams create|list|show`: OpenAI-compatible provider endpoints. */
import type { Command } from "commander";
import type { UpstreamView } from "../../registry/schemas.js";
import { type List, seg } from "../client.js";
import { context, positiveInt } from "../context.js";
import { emit, print, printFields, printTable } from "../output.js";

type CreateOptions = {
  baseUrl: string;
  apiKeyEnv?: string;
  timeoutMs?: number;
  connectTimeoutMs?: number;
  firstByteTimeoutMs?: number;
};

function showUpstream(u: UpstreamView): void {
  printFields([
    ["name", u.name],
    ["base_url", u.base_url],
    ["api_key_env", u.api_key_env],
    ["timeout_ms", u.timeout_ms],
    ["connect_timeout_ms", u.connect_timeout_ms],
    ["first_byte_timeout_ms", u.first_byte_timeout_ms],
    ["created_at", u.created_at],
    ["updated_at", u.updated_at],
  ]);
}

export function registerUpstreams(program: Command): void {
  const upstreams = program.command("upstreams").description("OpenAI-compatible provider endpoints");

  upstreams
    .command("create")
    .description("register an upstream")
    .argument("<name>", "upstream name")
    .requiredOption("--base-url <url>", "OpenAI-compatible base URL, e.g. https://api.openai.com/v1")
    .option("--api-key-env <var>", "name of the environment variable holding the API key (never the key)")
    .option("--timeout-ms <n>", "total request timeout", positiveInt("--timeout-ms"))
    .option("--connect-timeout-ms <n>", "connect timeout", positiveInt("--connect-timeout-ms"))
    .option(
      "--first-byte-timeout-ms <n>",
      "time-to-first-byte timeout",
      positiveInt("--first-byte-timeout-ms"),
    )
    .action(async (name: string, opts: CreateOptions, cmd: Command) => {
      const { api, json } = context(cmd);
      const created = await api.post<UpstreamView>("/upstreams", {
        name,
        base_url: opts.baseUrl,
        api_key_env: opts.apiKeyEnv,
        timeout_ms: opts.timeoutMs,
        connect_timeout_ms: opts.connectTimeoutMs,
        first_byte_timeout_ms: opts.firstByteTimeoutMs,
      });
      emit(json, created, (u) => {
        print(`Created upstream '${u.name}'.`);
        showUpstream(u);
      });
    });

  upstreams
    .command("list")
    .description("list upstreams")
    .action(async (_opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      const res = await api.get<List<UpstreamView>>("/upstreams");
      emit(json, res, ({ data }) =>
        printTable(
          data,
          [
            { header: "NAME", value: (u) => u.name },
            { header: "BASE_URL", value: (u) => u.base_url },
            { header: "API_KEY_ENV", value: (u) => u.api_key_env },
            { header: "TIMEOUT_MS", value: (u) => u.timeout_ms },
          ],
          "No upstreams.",
        ),
      );
    });

  upstreams
    .command("show")
    .description("show one upstream")
    .argument("<name>", "upstream name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { api, json } = context(cmd);
      emit(json, await api.get<UpstreamView>(`/upstreams/${seg(name)}`), showUpstream);
    });
}
