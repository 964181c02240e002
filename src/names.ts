import { fail } from './errors.js';
import { MAX_KEY_BYTES } from './shared/limits.js';
import { PROJECT_MAX_BYTES } from './shared/limits-features.js';

/**
 * A name that becomes a path segment (or a key) later: at most MAX_KEY_BYTES of UTF-8, no NUL, no
 * U+FFFD: raw bytes that are not UTF-8 reach us already replaced by U+FFFD (uWS decodes
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

/**
 * A project name: what leases, tasks and hook sessions are scoped by. One path segment
 * (it names `/api/specs/{project}` and `project:<p>` scopes): not empty, no `/`, `\` or control
 * character, not `.` or `..`, at most PROJECT_MAX_BYTES. `field` names it in the refusal.
 */
export function checkProject(name: string, field = 'project'): string {
  checkName(name, field);
  if (name === '') throw fail('PROJECT_INVALID', field, 'empty');
  if (/[/\\]/.test(name)) throw fail('PROJECT_INVALID', field, `${JSON.stringify(name)} has a / or \\ (a project is one name, such as a repository's)`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw fail('PROJECT_INVALID', field, 'control characters');
  if (name === '.' || name === '..') throw fail('PROJECT_INVALID', field, `${name} is not a name`);
  const bytes = Buffer.byteLength(name);
  if (bytes > PROJECT_MAX_BYTES) throw fail('NAME_TOO_LONG', field, bytes, PROJECT_MAX_BYTES);
  return name;
}
