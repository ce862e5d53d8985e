/**
 * Printing: aligned tables and key/value blocks for people, raw JSON for scripts. Everything goes
 * to stdout; only errors go to stderr, so `--json` output can be piped straight into `jq`.
 */

export type Cell = string | number | boolean | null | undefined;
export type Column<T> = { header: string; value: (row: T) => Cell };

export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value ?? null, null, 2));
}

export function cell(v: Cell): string {
  if (v === null || v === undefined || v === "") return "-";
  return String(v).replace(/\s+/g, " ");
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const grid = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => cell(c.value(r))))];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => line[i]?.length ?? 0)));
  return grid
    .map((line) =>
      line
        .map((v, i) => (i === line.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function printTable<T>(rows: readonly T[], columns: readonly Column<T>[], empty: string): void {
  print(rows.length === 0 ? empty : formatTable(rows, columns));
}

/** A `key  value` block for one object, keys padded to one width. */
export function printFields(fields: ReadonlyArray<readonly [string, Cell]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) print(`${k.padEnd(width)}  ${cell(v)}`);
}

/** Compact one-line JSON for nested values in tables, cut to `max` characters. */
export function compact(value: unknown, max = 80): string | null {
  if (value === null || value === undefined) return null;
  const s = JSON.stringify(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** `{a: 1, b: 2}` → `a=1, b=2`, for aliases and tags. */
export function pairs(record: Record<string, Cell> | null | undefined): string | null {
  const entries = Object.entries(record ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${cell(v)}`).join(", ") : null;
}

/** Prints `data` as JSON for scripts, or hands it to `human` for the readable form. */
export function emit<T>(json: boolean, data: T, human: (data: T) => void): void {
  if (json) printJson(data);
  else human(data);
}
