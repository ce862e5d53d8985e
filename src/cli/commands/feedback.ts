/**
 * `agentgate feedback <request-id> | --session <id>`: a metric value for one call or for one
 * workflow run. Needs a token with the `feedback` scope (or `admin`).
 */
import type { Command } from "commander";
import type { FeedbackView } from "../../experiments/feedback.js";
import { context } from "../context.js";
import { usageError } from "../errors.js";
import { emit, print, printFields } from "../output.js";

type FeedbackOptions = {
  session?: string;
  metric: string;
  value: boolean | number;
  comment?: string;
  key?: string;
};

/** `true`, `false` or a finite number (`1`, `0.75`, `-2e3`). */
export function parseFeedbackValue(raw: string): boolean | number {
  if (raw === "true") return true;
  if (raw === "false") return false;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) {
    throw usageError(`--value must be true, false or a finite number, got '${raw}'`);
  }
  return n;
}

export function registerFeedback(program: Command): void {
  program
    .command("feedback")
    .description(
      "record a metric value for a call (its x-agentgate-request-id) or a workflow run (--session)",
    )
    .argument("[request-id]", "the x-agentgate-request-id of the call")
    .option("--session <id>", "the X-Session-Id of the workflow run (instead of a request id)")
    .requiredOption("--metric <name>", "a declared metric (see: agentgate metrics list)")
    .requiredOption("--value <value>", "true, false or a number", parseFeedbackValue)
    .option("--comment <text>", "free text, up to 2000 characters")
    .option("--key <key>", "idempotency key: repeating the command with it stores nothing new")
    .action(async (requestId: string | undefined, opts: FeedbackOptions, cmd: Command) => {
      if ((requestId === undefined) === (opts.session === undefined)) {
        throw usageError("give either a request id or --session <id>, not both and not neither");
      }
      const { api, json } = context(cmd);
      const stored = await api.post<FeedbackView>("/feedback", {
        request_id: requestId,
        session_id: opts.session,
        metric: opts.metric,
        value: opts.value,
        comment: opts.comment,
        idempotency_key: opts.key,
      });
      emit(json, stored, (f) => {
        const target = f.level === "call" ? `call ${f.request_id}` : `session ${f.session_id}`;
        print(`Feedback ${f.id}: ${f.metric} = ${f.value} for ${target}.`);
        printFields([
          ["id", f.id],
          ["metric", f.metric],
          ["value", f.value],
          ["level", f.level],
          ["request_id", f.request_id],
          ["session_id", f.session_id],
          ["comment", f.comment],
          ["key", f.idempotency_key],
          ["by", f.actor],
          ["at", f.at],
        ]);
      });
    });
}
