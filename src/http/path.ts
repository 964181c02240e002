import { badRequest } from '../errors.js';
import { MAX_KEY_BYTES } from '../shared/limits.js';

/**
 * A name taken from the URL path (state key, project, spec name): URL-decoded, at most
 * MAX_KEY_BYTES of UTF-8, no NUL byte. Anything else is a 400 naming `what`.
 */
export function pathName(raw: string, what: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw badRequest(`invalid URL encoding in ${what}`);
  }
  if (name === '') throw badRequest(`${what} is required`);
  return checkName(name, what);
}

/** A name that becomes a path segment (or a key) later: at most MAX_KEY_BYTES of UTF-8, no NUL. */
export function checkName(name: string, what: string): string {
  if (name.includes('\0')) throw badRequest(`${what} must not contain NUL bytes`);
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_KEY_BYTES) throw badRequest(`${what} too long: ${bytes} bytes (max ${MAX_KEY_BYTES})`);
  return name;
}
