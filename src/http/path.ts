import { fail } from '../errors.js';
import { checkName } from '../names.js';

/**
 * A name taken from the URL path (state key, project, spec name): URL-decoded, at most
 * MAX_KEY_BYTES of UTF-8, no NUL byte. Anything else is a 400 naming `what`.
 */
export function pathName(raw: string, what: string): string {
  const name = decoded(raw);
  if (name === null) throw fail('INVALID_URL_ENCODING', what);
  if (name === '') throw fail('FIELD_REQUIRED', what);
  return checkName(name, what);
}

/** A path segment URL-decoded; null when it does not decode. */
export function decoded(raw: string): string | null {
  // Most names carry no escape: decodeURIComponent would return the same text in a new string (~0.1 µs per request).
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}
