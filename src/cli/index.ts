#!/usr/bin/env node
/**
 * The `agentgate` executable. Whatever goes wrong, the user sees one line on stderr and a
 * non-zero exit code: 2 when the command as written cannot run, 1 when it ran and failed.
 */
import { CommanderError } from "commander";
import { EXIT_USAGE, reportError } from "./errors.js";
import { buildProgram } from "./program.js";

// `agentgate audit | head` closes our stdout early; that is not an error worth a trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
// Last resort: nothing, not even a bug of ours, ends in a stack trace on the user's terminal.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (err: unknown) => process.exit(reportError(err)));
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // Commander has already printed its message (or the help); only the exit code is left to set.
  // Exit explicitly: a failed start can leave handles (a database, a pool) keeping the loop alive.
  process.exit(err instanceof CommanderError ? (err.exitCode === 0 ? 0 : EXIT_USAGE) : reportError(err));
}
