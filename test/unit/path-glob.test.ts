import t from 'tap';
import fc from 'fast-check';
import { parseGlob } from '../../src/shared/glob.js';
import { globIntersection, globsOverlap, isValidPathGlob, pathGlob, pathGlobMatch, prefixEnd, prefixKeysOf } from '../../src/shared/path-glob.js';

/** [glob, path, matches] — the lease dialect: event patterns (docs/events.md#patterns) plus `**`. */
const MATCH: Array<[string, string, boolean]> = [
  ['src/*.ts', 'src/a.ts', true],
  ['src/*.ts', 'src/x/a.ts', false],
  ['*', 'a', true],
  ['*', 'a/b', false], // unlike topics, `*` is not "everything"
  ['**', 'a/b/c', true],
  ['src/**', 'src/a/b.ts', true],
  ['src/**', 'srcx/a', false],
  ['src/**/*.ts', 'src/a.ts', true], // `**/` may match no directory at all
  ['src/**/*.ts', 'src/x/y/a.ts', true],
  ['src/**/*.ts', 'src/x/y/a.js', false],
  ['**/*.ts', 'a.ts', true],
  ['**/*.ts', 'deep/er/a.ts', true],
  ['a/**/b', 'a/b', true],
  ['a/**/b', 'a/x/y/b', true],
  ['a/**/b', 'ab', false],
  ['a**b', 'a/x/b', true], // inside a segment `**` is any run, '/' included
  ['a**b', 'ab', true],
  ['src/?.ts', 'src/a.ts', true],
  ['src/?.ts', 'src//.ts', false],
  ['src/[ab].ts', 'src/b.ts', true],
  ['src/[^ab].ts', 'src/c.ts', true],
  ['src/[^ab].ts', 'src/a.ts', false],
  ['src/\\*.ts', 'src/*.ts', true],
  ['src/\\*.ts', 'src/a.ts', false],
];

/** [a, b, overlap] — decided on the globs, both ways. */
const OVERLAP: Array<[string, string, boolean]> = [
  ['src/**/*.ts', 'src/api/x.*', true], // the example: src/api/x.ts
  ['docs/*', 'src/*', false],
  ['src/*', 'src/a/b.ts', false],
  ['src/**', 'src/a/b.ts', true],
  ['*.ts', 'src/a.ts', false],
  ['**/*.ts', 'src/a.ts', true],
  ['**/*.ts', 'a.ts', true],
  ['src/**/*.ts', 'src/a.ts', true],
  ['src/**/*.ts', 'src/a.js', false],
  ['src/*.ts', 'src/*.js', false],
  ['src/a*', 'src/*b', true],
  ['src/[ab].ts', 'src/[bc].ts', true],
  ['src/[a].ts', 'src/[b].ts', false],
  ['src/[^a].ts', 'src/a.ts', false],
  ['src/[^a].ts', 'src/b.ts', true],
  ['src/?', 'src/ab', false],
  ['src/??', 'src/ab', true],
  ['a/**/b', 'a/b', true],
  ['src/**', 'docs/**', false],
  ['**', 'anything/at/all.md', true],
  ['src/x', 'src/x', true],
  ['src/x', 'src/y', false],
  ['src/\\*', 'src/a', false],
  ['src/\\*', 'src/*', true],
  ['*', 'a/b', false],
  ['*', 'a', true],
  ['a*b*c', 'a*c*b', false], // would have to end in both c and b
  ['a*b*c', '*b*', true],
  ['src/**/test/*.ts', 'src/a/b/*/x.ts', true],
  ['**/node_modules/**', 'src/**', true],
  ['src/*/x.ts', 'src/**/y.ts', false],
  ['src/a?c/**', 'src/*b*/d', true],
];

t.test('path glob matching table', async (t) => {
  for (const [g, p, want] of MATCH) t.equal(pathGlobMatch(g, p), want, `${g} ~ ${p}`);
});

t.test('overlap table: symmetric, and a witness that matches both', async (t) => {
  for (const [a, b, want] of OVERLAP) {
    t.equal(globsOverlap(a, b), want, `${a} ∩ ${b}`);
    t.equal(globsOverlap(b, a), want, `${b} ∩ ${a}`);
    const w = globIntersection(a, b);
    if (want) t.ok(w !== null && pathGlobMatch(a, w) && pathGlobMatch(b, w), `witness ${JSON.stringify(w)} matches ${a} and ${b}`);
  }
});

t.test('validity and literal prefixes', async (t) => {
  for (const g of ['', '[', 'src/[a', 'a\\']) t.notOk(isValidPathGlob(g), `${JSON.stringify(g)} is refused`);
  t.ok(isValidPathGlob('src/**'));
  t.same([pathGlob('src/api/x.*')!.prefix, pathGlob('src/api/x.*')!.literal], ['src/api/x.', false], 'the text before the first wildcard');
  t.same([pathGlob('a\\*b')!.prefix, pathGlob('a\\*b')!.literal], ['a*b', true], 'escapes are literal');
  t.same([pathGlob('**')!.prefix, pathGlob('é/x')!.prefix], ['', 'é/x']);
});

// ---------------------------------------------------------------------------------------------
// Properties (fast-check): random globs over a small alphabet, so that collisions are frequent.

const PIECES = ['a', 'b', '.', '/', '*', '**', '**/', '?', '[ab]', '[^a]', '[a-c]', '\\*'];
const glob = fc.array(fc.constantFrom(...PIECES), { maxLength: 7 }).map((p) => p.join('')).filter((g) => g !== '');
const PATH_CHARS = ['a', 'b', 'c', '.', '/', '*'];

/** A random path matching `g`: each token of the parsed glob instantiated with random characters. */
function sample(g: string, rnd: () => number): string {
  const pick = (chars: string[]) => chars[Math.floor(rnd() * chars.length)]!;
  const run = (chars: string[]) => {
    let s = '';
    for (let n = Math.floor(rnd() * 3); n > 0; n--) s += pick(chars);
    return s;
  };
  const noSlash = PATH_CHARS.filter((c) => c !== '/');
  let out = '';
  for (const tok of parseGlob(g, true)!) {
    if (tok.kind === 'char') out += String.fromCodePoint(tok.cp);
    else if (tok.kind === 'one') out += pick(noSlash);
    else if (tok.kind === 'star') out += run(noSlash);
    else if (tok.kind === 'globstar') out += tok.dir ? (rnd() < 0.4 ? '' : `${run(PATH_CHARS)}/`) : run(PATH_CHARS);
    else {
      const inClass = (c: string) => tok.ranges.some(([lo, hi]) => c.codePointAt(0)! >= lo && c.codePointAt(0)! <= hi) !== tok.negated;
      const ok = PATH_CHARS.filter(inClass);
      out += ok.length > 0 ? pick(ok) : 'x';
    }
  }
  return out;
}

t.test('property: a path matching both globs means they overlap (no false "no conflict")', async (t) => {
  let both = 0;
  fc.assert(
    fc.property(glob, glob, fc.integer(), (a, b, seed) => {
      let s = seed >>> 0 || 1;
      const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
      for (let k = 0; k < 8; k++) {
        const p = sample(a, rnd);
        if (!pathGlobMatch(a, p)) return false; // the sampler must produce matches of `a`
        if (pathGlobMatch(b, p)) {
          both++;
          if (!globsOverlap(a, b)) return false;
        }
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.ok(both > 1000, `${both} sampled paths matched both globs, and every such pair overlapped`);
});

t.test('property: random paths matching both globs mean overlap', async (t) => {
  const path = fc.array(fc.constantFrom(...PATH_CHARS), { maxLength: 8 }).map((c) => c.join(''));
  fc.assert(
    fc.property(glob, glob, path, (a, b, p) => !(pathGlobMatch(a, p) && pathGlobMatch(b, p)) || globsOverlap(a, b)),
    { numRuns: 5000 },
  );
  t.pass('5000 (glob, glob, path) triples');
});

t.test('property: an overlap is real — the witness matches both, and the answer is symmetric', async (t) => {
  let positive = 0;
  fc.assert(
    fc.property(glob, glob, (a, b) => {
      const w = globIntersection(a, b);
      if (globsOverlap(b, a) !== (w !== null)) return false;
      if (w === null) return true;
      positive++;
      return pathGlobMatch(a, w) && pathGlobMatch(b, w);
    }),
    { numRuns: 5000 },
  );
  t.ok(positive > 500, `${positive} overlapping pairs had their witness checked`);
});

t.test('exhaustive: "no overlap" means no short path over the alphabet matches both', async (t) => {
  const chars = ['a', 'b', '/'];
  const paths: string[] = [''];
  for (let len = 1, layer = ['']; len <= 5; len++) {
    layer = layer.flatMap((s) => chars.map((c) => s + c));
    paths.push(...layer);
  }
  const globs = ['a', '*', '**', 'a/**', '**/b', '*/*', 'a*', '*b', '?', '??', 'a/**/b', '[ab]/*', '[^a]*', 'a**', '**a', 'b/?'];
  let pairs = 0;
  for (const a of globs) {
    for (const b of globs) {
      const both = paths.find((p) => pathGlobMatch(a, p) && pathGlobMatch(b, p));
      if (both !== undefined) t.ok(globsOverlap(a, b), `${a} ∩ ${b} ∋ ${JSON.stringify(both)}`);
      else if (globsOverlap(a, b)) t.ok(globIntersection(a, b)!.length > 5, `${a} ∩ ${b}: only longer paths, e.g. ${globIntersection(a, b)}`);
      pairs++;
    }
  }
  t.equal(pairs, globs.length ** 2);
});

t.test('prefixKeysOf finds exactly the keys that prefix the path, in few seeks', async (t) => {
  const key = fc.array(fc.constantFrom('a', 'b', 'é', '/'), { maxLength: 4 }).map((c) => c.join(''));
  fc.assert(
    fc.property(fc.uniqueArray(key, { maxLength: 30 }), key, (keys, p) => {
      const sorted = keys.map((k) => Buffer.from(k)).sort(Buffer.compare);
      let seeks = 0;
      const atMost = (x: Buffer, inclusive: boolean) => {
        seeks++;
        return sorted.filter((k) => (inclusive ? Buffer.compare(k, x) <= 0 : Buffer.compare(k, x) < 0)).at(-1);
      };
      const pb = Buffer.from(p);
      const got = prefixKeysOf(pb, atMost).map((b) => b.toString()).sort();
      const want = keys.filter((k) => pb.subarray(0, Buffer.byteLength(k)).equals(Buffer.from(k))).sort();
      return JSON.stringify(got) === JSON.stringify(want) && seeks <= pb.length + want.length + 1;
    }),
    { numRuns: 2000 },
  );
  t.same(prefixEnd(Buffer.from('src/')), Buffer.from('src0'), 'the end of the range of keys starting with src/');
});

t.test('pathological globs are bounded and count as overlapping (the safe answer for a lock)', async (t) => {
  const a = `${'*a'.repeat(200)}c`;
  const b = `${'a*'.repeat(200)}b*`;
  t.equal(globsOverlap(a, b), true, 'past the search budget: overlapping');
  t.equal(globIntersection(a, b), null, 'and no witness is claimed');
  t.equal(globsOverlap('*a*b', 'a*c'), false, 'small globs are still decided exactly');
});
