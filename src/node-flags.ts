/**
 * The Node flags agentgate's server runs with. `npm start`, `npm run dev` and the Dockerfile's CMD
 * pass them (a test keeps them in step with this list), the bench starts its proxies with them, and
 * `agentgate serve` started without them (`npx agentgate serve`: the executable's `#!` line stays a
 * plain `env node`, since `env -S` is not everywhere, BusyBox's included) logs how to add them.
 *
 * `--max-semi-space-size=32`: V8's young generation holds each call's short-lived objects (the
 * data plane allocates ~40 KB per proxied call). With Node's default 16 MB semi-spaces a scavenge
 * runs every few hundred calls and copies the objects of every call still in flight; doubling
 * them halves how often, for at most 32 MB more memory. Four same-run A/Bs, either position: 4–12%
 * less CPU per call at 1,000 req/s, 3–7 points more throughput (docs/benchmarks.md). V8 reads it
 * only when the process starts, so it cannot be set from inside.
 */
export const SERVER_NODE_FLAGS = ["--max-semi-space-size=32"] as const;

/**
 * The flags this process was started without (command line and NODE_OPTIONS both count; another
 * value than ours counts as given: the operator chose it).
 */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
): string[] {
  // V8 takes `--max_semi_space_size` as well as `--max-semi-space-size`.
  const names = [...execArgv, ...nodeOptions.split(/\s+/)].map((a) => nameOf(a).replace(/_/g, "-"));
  return SERVER_NODE_FLAGS.filter((flag) => !names.includes(nameOf(flag)));
}

const nameOf = (arg: string) => arg.split("=", 1)[0] as string;
