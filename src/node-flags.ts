/**
 * The Node and V8 flags agentgate's server runs with: those given on node's command line
 * (`SERVER_NODE_FLAGS`), and those it sets from inside at its start (`RUNTIME_V8_FLAGS`).
 *
 * The command-line flags: `npm start`, `npm run dev` and the Dockerfile's CMD
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
import v8 from "node:v8";

export const SERVER_NODE_FLAGS = ["--max-semi-space-size=32"] as const;

/**
 * V8 flags the server sets from inside at its start (`v8.setFlagsFromString`), for what Node does
 * not allow in NODE_OPTIONS and V8 reads whenever it needs the value, not only at startup.
 *
 * `--heap-growing-percent=200`: after each mark-compact V8 sets the old generation's next limit
 * at live size × a factor it picks from how fast the program allocates against how fast it
 * collects. At a steady, moderate load (1,000 calls/s) it picked ~1.1–1.3: with ~35 MB live and
 * ~2 KB promoted a call, a mark-compact every few seconds, 5–12 ms each on Node 24, which were the
 * PostgreSQL gateway's p99.9 and much of its p99. A factor of 3 spaces them ~10× further apart for
 * at most ~70 MB more memory; under heavy allocation V8's own factor goes up to 4, and there 3
 * costs a few more mark-compacts than it would have (docs/benchmarks.md).
 */
export const RUNTIME_V8_FLAGS = ["--heap-growing-percent=200"] as const;

/**
 * Sets the runtime V8 flags this process was not started with (a value given on the command line
 * is the operator's choice); returns those it set.
 */
export function applyRuntimeV8Flags(execArgv: readonly string[] = process.execArgv): string[] {
  const given = flagNames(execArgv);
  const set = RUNTIME_V8_FLAGS.filter((flag) => !given.has(nameOf(flag)));
  for (const flag of set) v8.setFlagsFromString(flag);
  return set;
}

/**
 * The flags this process was started without (command line and NODE_OPTIONS both count; another
 * value than ours counts as given: the operator chose it).
 */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
): string[] {
  const given = flagNames([...execArgv, ...nodeOptions.split(/\s+/)]);
  return SERVER_NODE_FLAGS.filter((flag) => !given.has(nameOf(flag)));
}

/** The names of the flags in `args`, spelled with dashes (V8 takes `--max_semi_space_size` too). */
const flagNames = (args: readonly string[]) => new Set(args.map((a) => nameOf(a).replace(/_/g, "-")));

const nameOf = (arg: string) => arg.split("=", 1)[0] as string;
