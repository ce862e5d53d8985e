/**
 * MLflow search filter strings (`SearchModelVersionUtils` / `SearchUtils` in mlflow/utils/search_utils.py).
 *
 * MLflow has no escape sequence inside string literals: it only trims the surrounding quotes,
 * single or double. A value is therefore quoted with whichever quote it does not contain; a value
 * containing both cannot be expressed and is refused here instead of silently matching something
 * else. Tag keys go in backticks, so keys with dots or spaces (`agentgate.version`) stay one key.
 */
import { MlflowClientError } from "./errors.js";

export function literal(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new MlflowClientError(
    `cannot search for ${JSON.stringify(value)}: MLflow filters cannot express a value with both ' and "`,
  );
}

export function tagIdentifier(key: string): string {
  if (key.includes("`"))
    throw new MlflowClientError(`cannot search on tag key ${JSON.stringify(key)}: it contains a backtick`);
  return `tags.\`${key}\``;
}

/** `ident = 'value'` joined by AND (MLflow's registry filters accept AND only, no OR). */
export function allOf(conditions: ReadonlyArray<readonly [identifier: string, value: string]>): string {
  return conditions.map(([ident, value]) => `${ident} = ${literal(value)}`).join(" AND ");
}
