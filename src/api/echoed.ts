/** Longest piece of client-supplied text (a feature name, a map key) echoed back in an error. */
export const MAX_ECHOED_CHARACTERS = 64;

/**
 * Client-supplied text as it may appear in an error: cut to
 * MAX_ECHOED_CHARACTERS code points with a note of what was left out. Error
 * details travel in HTTP/2 trailers, which clients cap at a few kilobytes: a
 * 7 KB feature name echoed whole made C-core clients drop the whole answer.
 */
export function echoed(text: string): string {
  if (text.length <= MAX_ECHOED_CHARACTERS) return text;
  const codePoints = Array.from(text);
  if (codePoints.length <= MAX_ECHOED_CHARACTERS) return text;
  return `${codePoints.slice(0, MAX_ECHOED_CHARACTERS).join('')}…(${codePoints.length - MAX_ECHOED_CHARACTERS} more characters)`;
}
