import { fail } from './errors.js';
import { MAX_KEY_BYTES } from './shared/limits.js';

/**
 * A name that becomes a path segment (or a key) later: at most MAX_KEY_BYTES of UTF-8, no NUL, no
 * U+FFFD (issue 34): raw bytes that are not UTF-8 reach us already replaced by U+FFFD (uWS decodes
 * the URL, URLSearchParams the query), so that character is refused rather than stored, and two
 * different byte strings can never become one key.
 */
export function checkName(name: string, what: string): string {
  if (name.includes('\0')) throw fail('NAME_HAS_NUL', what);
  if (name.includes('\uFFFD')) throw fail('INVALID_UTF8', what);
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_KEY_BYTES) throw fail('NAME_TOO_LONG', what, bytes, MAX_KEY_BYTES);
  return name;
}
