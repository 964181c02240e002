import { fail } from '../errors.js';
import { checkName } from '../names.js';

/**
 * A name taken from the URL path (state key, project, spec name): URL-decoded, at most
 * MAX_KEY_BYTES of UTF-8, no NUL byte. Anything else is a 400 naming `what`.
 */
export function pathName(raw: string, what: string): string {
  let name = raw;
  // Most names carry no escape: decodeURIComponent would return the same text (~0.1 µs per request).
  if (raw.includes('%')) {
    try {
      name = decodeURIComponent(raw);
    } catch {
      throw fail('INVALID_URL_ENCODING', what);
    }
  }
  if (name === '') throw fail('FIELD_REQUIRED', what);
  return checkName(name, what);
}
