/**
 * What PostgreSQL's text and jsonb refuse although JSON and JavaScript strings allow it: NUL
 * characters and unpaired surrogates. One such character in a batch of events fails the whole
 * statement, so strings a client chose are made storable before they reach the database.
 */

/** Whether PostgreSQL stores `s` as it is. */
export function isStorable(s: string): boolean {
  return !s.includes("\u0000") && !/\p{Cs}/u.test(s);
}

/** `s` with each NUL and unpaired surrogate replaced by U+FFFD, as a decoder marks what it cannot read. */
export function storable(s: string): string {
  let out = s;
  if (out.includes("\u0000")) out = out.replaceAll("\u0000", "\uFFFD");
  if (/\p{Cs}/u.test(out)) out = out.replace(/\p{Cs}/gu, "\uFFFD");
  return out;
}
