/**
 * What PostgreSQL's text and jsonb refuse although JSON and JavaScript strings allow it: NUL
 * characters and unpaired surrogates. One such character in a batch of events fails the whole
 * statement, so strings a client chose are made storable before they reach the database.
 */

// ES2024's well-formed string methods (Node ≥ 20); the project's `lib` is ES2023.
declare global {
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

/** Whether PostgreSQL stores `s` as it is. */
export function isStorable(s: string): boolean {
  return !s.includes("\u0000") && s.isWellFormed();
}

/** `s` with each NUL and unpaired surrogate replaced by U+FFFD, as a decoder marks what it cannot read. */
export function storable(s: string): string {
  return isStorable(s) ? s : s.toWellFormed().replaceAll("\u0000", "\uFFFD");
}
