/**
 * How the CLI fails. Exit code 2 means the command as written cannot run (bad arguments,
 * configuration or local input); 1 means it ran and failed (server error, unreachable server,
 * failed start). Either way the user gets one line on stderr and never a stack trace.
 */

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(message, EXIT_USAGE);

/**
 * A one-line description of any thrown value. Driver errors are sometimes an `AggregateError`
 * with an empty message (one attempt per resolved address), so the first inner error is used.
 */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && !err.message) {
    const first = err.errors[0];
    if (first !== undefined) return describeError(first);
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const text = err.message || (typeof code === "string" ? code : err.name);
    return firstLine(text);
  }
  return firstLine(String(err));
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]?.trim() || "unknown error";
}

/** Prints the one error line and returns the exit code to use. */
export function reportError(err: unknown): number {
  if (err instanceof CliError) {
    process.stderr.write(`agentgate: ${firstLine(err.message)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`agentgate: unexpected error: ${describeError(err)}\n`);
  return EXIT_FAILURE;
}
