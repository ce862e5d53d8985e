/**
 * `agentgate capture <system/agent>`: show an agent's capture settings, or change them. Changes
 * start from the current settings: only what is given changes (`--redact-path` and
 * `--redact-pattern` replace their lists; `--clear-redactions` empties both first).
 */
import type { Command } from "commander";
import type { CaptureView } from "../../capture/policy.js";
import { collect, context, parseAgentArg, positiveInt } from "../context.js";
import { usageError } from "../errors.js";
import { emit, print, printFields } from "../output.js";

type CaptureOptions = {
  on?: boolean;
  off?: boolean;
  maxBytes?: number;
  retentionDays?: number;
  redactPath?: string[];
  redactPattern?: string[];
  clearRedactions?: boolean;
  reason?: string;
};

function showCapture(c: CaptureView): void {
  printFields([
    ["agent", `${c.system}/${c.agent}`],
    ["capture", c.enabled ? "on" : "off"],
    ["max_bytes", c.max_bytes],
    ["retention_days", c.retention_days],
    ["redact_paths", c.redact_paths.join("  ")],
    ["redact_patterns", c.redact_patterns.join("  ")],
    ["stored", c.stored],
    ["updated_by", c.updated_by],
    ["updated_at", c.updated_at],
  ]);
}

export function registerCapture(program: Command): void {
  program
    .command("capture")
    .description(
      "show or change an agent's capture of calls (messages and answers, for datasets): on/off, byte cap, redaction, retention",
    )
    .argument("<system/agent>", "agent reference")
    .option("--on", "capture the agent's calls")
    .option("--off", "stop capturing (what is stored stays until it expires)")
    .option(
      "--max-bytes <n>",
      "largest capture per call, in bytes (default 262144)",
      positiveInt("--max-bytes"),
    )
    .option(
      "--retention-days <n>",
      "delete captures after this many days (default 30)",
      positiveInt("--retention-days"),
    )
    .option(
      "--redact-path <path>",
      "JSON path to replace by [REDACTED], e.g. 'messages[*].name' (repeat; replaces the list)",
      collect,
    )
    .option(
      "--redact-pattern <regex>",
      "regular expression whose matches become [REDACTED] (repeat; replaces the list; '(?i)' prefix = any case)",
      collect,
    )
    .option("--clear-redactions", "remove every redaction path and pattern (then add any given)")
    .option("--reason <text>", "why; kept in the audit log")
    .action(async (raw: string, opts: CaptureOptions, cmd: Command) => {
      const ref = parseAgentArg(raw);
      if (opts.on && opts.off) throw usageError("give --on or --off, not both");
      const { api, json } = context(cmd);
      const path = `${ref.path}/capture`;
      const current = await api.get<CaptureView>(path);
      const changes =
        opts.on ||
        opts.off ||
        opts.clearRedactions ||
        opts.maxBytes !== undefined ||
        opts.retentionDays !== undefined ||
        opts.redactPath !== undefined ||
        opts.redactPattern !== undefined;
      if (!changes) {
        emit(json, current, showCapture);
        return;
      }
      const cleared = opts.clearRedactions === true;
      const updated = await api.put<CaptureView>(path, {
        enabled: opts.on ? true : opts.off ? false : current.enabled,
        max_bytes: opts.maxBytes ?? current.max_bytes,
        retention_days: opts.retentionDays ?? current.retention_days,
        redact_paths: opts.redactPath ?? (cleared ? [] : current.redact_paths),
        redact_patterns: opts.redactPattern ?? (cleared ? [] : current.redact_patterns),
        reason: opts.reason,
      });
      emit(json, updated, (c) => {
        print(`${ref.ref}: capture ${c.enabled ? "on" : "off"}`);
        showCapture(c);
      });
    });
}
