/** [pattern, subject, expected] — event patterns, docs/events.md#patterns (a port of Go's path.Match). */
export const GLOB_TABLE: Array<[string, string, boolean]> = [
  // `*` crosses dots but not slashes
  ['api.*', 'api.change', true],
  ['api.*', 'api.change.contract', true],
  ['api.*', 'api.', true],
  ['api.*', 'apix', false],
  ['*.js', 'a.js', true],
  ['*.js', 'src/a.js', false],
  ['*', 'anything.at.all', true],
  ['*', 'with/slash', true], // "*" is the match-all convention
  ['', 'x', true],
  ['a*b', 'ab', true],
  ['a*b', 'axxxb', true],
  ['a*b', 'axx/b', false],
  ['a*b*c', 'abbbcbc', true],
  // `?`
  ['a?c', 'abc', true],
  ['a?c', 'ac', false],
  ['a?c', 'a/c', false],
  ['a?c', 'aéc', true],
  // classes
  ['[abc]x', 'bx', true],
  ['[abc]x', 'dx', false],
  ['[a-c]x', 'cx', true],
  ['[^a-c]x', 'dx', true],
  ['[^a-c]x', 'ax', false],
  ['[\\]]', ']', true],
  ['[\\-]', '-', true],
  ['[a-]', 'a', false], // malformed
  ['[z-a]', 'm', false], // Go accepts reversed ranges; they never match
  ['[^z-a]', 'm', true],
  ['x[', 'x[', false], // malformed → matches nothing
  ['[]', '', false],
  ['[^]', 'a', false],
  ['[abc', 'a', false],
  // escapes
  ['\\*', '*', true],
  ['\\*', 'a', false],
  ['a\\', 'a\\', false], // trailing backslash is malformed
  ['\\[x]', '[x]', true],
  // regex metacharacters are literal
  ['a.b', 'axb', false],
  ['a+b', 'a+b', true],
  ['(x)', '(x)', true],
  ['a$', 'a$', true],
  // whole-string match
  ['api', 'api.change', false],
  ['change', 'api.change', false],
];
