import t from 'tap';
import { parsePrometheus } from '../helpers/prometheus.js';

/** The test parser must reject what Prometheus would reject, or the /metrics tests prove nothing. */

const ok = '# HELP c x\n# TYPE c counter\nc{a="1"} 2\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n';

t.test('reads a well-formed exposition', async (t) => {
  const m = parsePrometheus(ok);
  t.same(m.get('c')!.series, [{ labels: { a: '1' }, value: 2 }]);
  t.same(m.get('h')!.histograms[0], { labels: {}, buckets: [{ le: 1, count: 1 }, { le: Infinity, count: 2 }], sum: 3, count: 2 });
  t.same(parsePrometheus('# TYPE g gauge\ng{p="a\\"b\\\\c\\nd"} Nan\n').get('g')!.series[0]!.labels, { p: 'a"b\\c\nd' });
});

t.test('rejects what Prometheus would not read', async (t) => {
  const bad: Array<[string, string]> = [
    ['# TYPE c counter\nc 1', 'no final newline'],
    ['# TYPE c counter\nc{a="1"} 1\nc{a="1"} 2\n', 'duplicate series'],
    ['# TYPE c counter\nd 1\n', 'sample outside its family'],
    ['# TYPE c counter\nc{a=1} 1\n', 'unquoted label'],
    ['# TYPE c counter\nc{a="x} 1\n', 'unterminated label'],
    ['# TYPE c counter\nc{1a="x"} 1\n', 'bad label name'],
    ['# TYPE c counter\nc one\n', 'bad value'],
    ['# TYPE c counter\nc -1\n', 'negative counter'],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', 'not cumulative'],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', 'no +Inf bucket'],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n', '+Inf differs from count'],
    ['# TYPE c countr\nc 1\n', 'bad type'],
  ];
  for (const [text, why] of bad) t.throws(() => parsePrometheus(text), why);
});
