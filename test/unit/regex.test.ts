import t from 'tap';
import { effectiveRegex, re2ToJs, regexError } from '../../schemas/regex.js';

t.test('RE2 forms the original users write map to JS', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['(?i)style\\s*=', 'style\\s*=', 'i'],
    ['(?ims)x', 'x', 'ims'],
    ['(?ii)x', 'x', 'i'],
    ['(?P<year>\\d{4})', '(?<year>\\d{4})', ''],
    ['\\Afoo\\z', '^foo$', ''],
    ['\\\\A', '\\\\A', ''], // an escaped backslash, then a literal A
    ['a\\\\\\z', 'a\\\\$', ''], // an escaped backslash, then \z
    ['\\(?P<', '\\(?P<', ''], // an escaped parenthesis is not a named group
    ['a(?i)b', 'a(?i)b', 'error'], // inline flags mid-pattern are not RE2-mapped: JS refuses them
  ];
  for (const [re2, source, flags] of cases) {
    if (flags === 'error') {
      t.not(regexError(re2), null, `${re2} is refused`);
      continue;
    }
    const re = re2ToJs(re2);
    t.same([re.source, re.flags], [source, flags], re2);
  }
  t.ok(re2ToJs('\\Afoo\\z').test('foo') && !re2ToJs('\\Afoo\\z').test('xfoo'));
  t.ok(re2ToJs('\\\\A').test('\\A'), 'the literal backslash-A matches itself');
  t.equal(regexError('(unclosed') !== null, true);
  t.equal(effectiveRegex('custom', 'no-console-log'), 'console\\.log\\(');
  t.equal(effectiveRegex('custom', 'TODO'), 'TODO');
  t.equal(effectiveRegex('missing', 'x'), 'x');
  t.equal(effectiveRegex('ast', 'x'), null, 'unknown match types are not evaluated');
});
