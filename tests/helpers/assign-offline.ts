/**
 * The "second process" of the assignment test: recomputes arms offline, from nothing but an
 * experiment's salt and weights and the unit keys, with the documented hash
 * (`src/gateway/assignment.ts`). Reads `{salt, arms: [{name, weight}], keys: [unit key...]}` as JSON
 * on stdin and writes the arm name of every key, in order, as a JSON array on stdout.
 */
import { assign } from "../../src/gateway/assignment.js";

type Input = { salt: string; arms: { name: string; weight: number }[]; keys: string[] };

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Input;
const weights = input.arms.map((a) => a.weight);
const arms = input.keys.map((key) => input.arms[assign(input.salt, key, weights).arm]?.name ?? null);
process.stdout.write(JSON.stringify(arms));
