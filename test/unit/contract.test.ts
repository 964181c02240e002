import { createHash } from 'node:crypto';
import t from 'tap';
import { cachedContracts, checkReply, complianceCheck, goType, parseContract, planTest, validate } from '../../workers/pool/contract.js';
import { CONTRACT_CACHE_MAX } from '../../src/shared/limits-features.js';

/** Pool jobs called as plain functions, with the bytes and hash the server would send. */
const bytes = (doc: unknown): Buffer => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
const ref = (doc: unknown) => {
  const contract = bytes(doc);
  return { contract, hash: createHash('sha256').update(contract).digest('hex') };
};

const TRUCKS = {
  kind: 'contract',
  version: 1,
  endpoints: {
    'POST /api/trucks': {
      request: {
        plate: { type: 'string', required: true },
        type: { type: 'string', enum: ['semi', 'tanker'] },
        axles: { type: 'number' },
        electric: { type: 'boolean' },
        owner: {
          type: 'object',
          required: true,
          fields: { name: { type: 'string', required: true }, address: { type: 'object', fields: { city: { type: 'string', required: true } } } },
        },
        loads: { type: 'array', items: { type: 'object', fields: { kg: { type: 'number', required: true } } } },
        tags: { type: 'array', items: { type: 'string', nullable: true } },
        meta: { type: 'object' },
        any: { type: '' },
        note: { type: 'string', nullable: true },
        weird: { type: 'integer' },
      },
      response_status: 201,
      response: { id: { type: 'string', required: true }, done_at: { type: 'string', nullable: true } },
      error: { message: { type: 'string', required: true } },
    },
    'GET /api/trucks': { query: { page: { type: 'number' } }, response_array: { id: { type: 'string' } } },
  },
};

const run = (payload: unknown, endpoint = 'POST /api/trucks', direction = 'request', doc: unknown = TRUCKS) => {
  const r = validate({ ...ref(doc), endpoint, direction, payload });
  if (!r.ok) throw new Error(r.error);
  return r.violations;
};
const OK_REQUEST = { plate: 'AB-12', owner: { name: 'Ann' } };

t.test('parse: the reasons a stored spec is not a contract', async (t) => {
  const table: Array<[string, string]> = [
    ['not json', 'invalid contract JSON: '],
    ['[1]', 'invalid contract JSON: expected object, got array'],
    ['"x"', 'invalid contract JSON: expected object, got string'],
    ['{"kind":"contract","endpoints":[]}', 'invalid contract JSON: endpoints: expected object, got array'],
    ['{"kind":"contract","version":1.5,"endpoints":{"a":{}}}', 'invalid contract JSON: version: expected integer, got number'],
    ['{"kind":"contract","endpoints":{"GET /a":{"request":{"x":{"type":5}}}}}', 'invalid contract JSON: endpoints.GET /a.request.x.type: expected string, got number'],
    ['{"kind":"contract","endpoints":{"a":{"request":{"x":{"fields":{"y":{"required":"yes"}}}}}}}', 'invalid contract JSON: endpoints.a.request.x.fields.y.required: expected boolean, got string'],
    ['{"kind":"contract","endpoints":{"a":{"request":{"x":{"items":[]}}}}}', 'invalid contract JSON: endpoints.a.request.x.items: expected object, got array'],
    ['{"kind":"contract","endpoints":{"a":{"response_status":"201"}}}', 'invalid contract JSON: endpoints.a.response_status: expected integer, got string'],
    ['{"endpoints":{"a":{}}}', 'expected kind "contract", got ""'],
    ['null', 'expected kind "contract", got ""'],
    ['{"kind":"spec","endpoints":{"a":{}}}', 'expected kind "contract", got "spec"'],
    ['{"kind":"contract"}', 'contract has no endpoints'],
    ['{"kind":"contract","endpoints":{}}', 'contract has no endpoints'],
    ['{"kind":"contract","endpoints":null}', 'contract has no endpoints'],
  ];
  for (const [doc, reason] of table) {
    const r = parseContract(bytes(doc));
    t.equal(r.ok, false, doc);
    if (!r.ok) t.ok(r.reason.startsWith(reason) && (reason.endsWith(': ') || r.reason === reason), `${doc} → ${r.reason}`);
  }
  // Nulls are Go zero values; unknown members are ignored.
  const ok = parseContract(bytes('{"kind":"contract","extra":1,"endpoints":{"a":null,"b":{"request":{"x":null},"response_status":null}}}'));
  t.ok(ok.ok);
  if (ok.ok) t.same([...ok.contract.endpoints.keys()], ['a', 'b']);
});

t.test('Go type names in "expected X, got Y"', async (t) => {
  t.same(['s', 1.5, true, {}, []].map(goType), ['string', 'float64', 'bool', 'map[string]interface {}', '[]interface {}']);
  const table: Array<[string, unknown, string]> = [
    ['plate', 5, 'expected string, got float64'],
    ['plate', true, 'expected string, got bool'],
    ['plate', {}, 'expected string, got map[string]interface {}'],
    ['plate', [], 'expected string, got []interface {}'],
    ['axles', '3', 'expected number, got string'],
    ['electric', 'yes', 'expected boolean, got string'],
    ['meta', [1], 'expected object, got []interface {}'],
    ['loads', {}, 'expected array, got map[string]interface {}'],
    ['weird', 1, 'unknown type "integer" in contract schema'],
  ];
  for (const [field, value, message] of table) {
    t.same(run({ ...OK_REQUEST, [field]: value }), [{ path: `request.${field}`, message }], `${field} = ${JSON.stringify(value)}`);
  }
  t.same(run({ ...OK_REQUEST, any: [1, { a: null }] }), [], 'type "" takes anything');
  t.same(run({ ...OK_REQUEST, axles: 3, electric: false, meta: { x: 1 }, loads: [], tags: ['a', null] }), []);
});

t.test('null, nullable and the stop rules', async (t) => {
  t.same(run({ ...OK_REQUEST, note: null }), [], 'nullable null is fine');
  t.same(run({ ...OK_REQUEST, plate: null }), [{ path: 'request.plate', message: 'field "plate" is null but not nullable' }], 'required and present as null: only the null');
  t.same(run({ ...OK_REQUEST, any: null }), [{ path: 'request.any', message: 'field "any" is null but not nullable' }]);
  t.same(run({ ...OK_REQUEST, weird: null }), [{ path: 'request.weird', message: 'field "weird" is null but not nullable' }], 'null is checked before the unknown type');
  t.same(run({ ...OK_REQUEST, owner: null }), [{ path: 'request.owner', message: 'field "owner" is null but not nullable' }], 'a null object: nothing inside');
  t.same(run({ ...OK_REQUEST, owner: 'Ann' }), [{ path: 'request.owner', message: 'expected object, got string' }], 'a wrong type: nothing inside');
  t.same(run({ ...OK_REQUEST, type: 5 }), [{ path: 'request.type', message: 'expected string, got float64' }], 'a wrong type: no enum check');
  t.same(run({ ...OK_REQUEST, type: 'bus' }), [{ path: 'request.type', message: 'value "bus" not in allowed enum: [semi, tanker]' }]);
  t.same(run({ ...OK_REQUEST, type: 'semi' }), []);
  const enumAny = { kind: 'contract', endpoints: { e: { request: { a: { type: '', enum: ['x'] }, n: { type: 'number', enum: ['1'] } } } } };
  t.same(run({ a: 5, n: 1 }, 'e', 'request', enumAny), [], 'non-strings skip the enum');
  t.same(run({ a: 'y' }, 'e', 'request', enumAny), [{ path: 'request.a', message: 'value "y" not in allowed enum: [x]' }]);
});

t.test('nested objects and arrays, unknown members, in the original\'s order', async (t) => {
  const payload = {
    zeta: 1,
    alpha: 2,
    type: 'bus',
    owner: { name: 7, extra: true, address: { town: 'x' } },
    loads: [{ kg: 1 }, null, 3, { kg: 'heavy', x: 1 }, { }],
    tags: ['a', null, 5],
    plate: null,
  };
  t.same(run(payload), [
    { path: 'request.alpha', message: 'unexpected field "alpha" (contract defines: any, axles, electric, loads, meta, note, owner, plate, tags, type, weird)' },
    { path: 'request.zeta', message: 'unexpected field "zeta" (contract defines: any, axles, electric, loads, meta, note, owner, plate, tags, type, weird)' },
    { path: 'request.loads[1]', message: 'array element is null but not nullable' },
    { path: 'request.loads[2]', message: 'expected object, got float64' },
    { path: 'request.loads[3].x', message: 'unexpected field "x" (contract defines: kg)' },
    { path: 'request.loads[3].kg', message: 'expected number, got string' },
    { path: 'request.loads[4].kg', message: 'missing required field "kg"' },
    { path: 'request.owner.extra', message: 'unexpected field "extra" (contract defines: address, name)' },
    { path: 'request.owner.address.town', message: 'unexpected field "town" (contract defines: city)' },
    { path: 'request.owner.address.city', message: 'missing required field "city"' },
    { path: 'request.owner.name', message: 'expected string, got float64' },
    { path: 'request.plate', message: 'field "plate" is null but not nullable' },
    { path: 'request.tags[2]', message: 'expected string, got float64' },
    { path: 'request.type', message: 'value "bus" not in allowed enum: [semi, tanker]' },
  ]);
  // The same violations whatever the member order of the payload.
  const reversed = Object.fromEntries(Object.entries(payload).reverse());
  t.same(run(reversed), run(payload));
  t.same(run({}), [
    { path: 'request.owner', message: 'missing required field "owner"' },
    { path: 'request.plate', message: 'missing required field "plate"' },
  ]);
});

t.test('member names are data: prototype names, dots, numbers, code point order', async (t) => {
  const doc = { kind: 'contract', endpoints: { e: { request: { toString: { type: 'string', required: true }, '0': { type: 'array', items: { type: 'number' } }, 'a.b': { type: 'string' } } } } };
  t.same(run({ '0': [1], 'a.b': 'x' }, 'e', 'request', doc), [{ path: 'request.toString', message: 'missing required field "toString"' }], 'inherited names are not members');
  t.same(run(JSON.parse('{"toString":"x","__proto__":{"a":1},"0":["1"]}'), 'e', 'request', doc), [
    { path: 'request.__proto__', message: 'unexpected field "__proto__" (contract defines: 0, a.b, toString)' },
    { path: 'request.0[0]', message: 'expected number, got string' },
  ]);
  // Go sorts by bytes: "Z" < "a" < "é" < "😀".
  const order = run({ toString: 'x', é: 1, a: 1, Z: 1, '😀': 1 }, 'e', 'request', doc).map((v) => v.path);
  t.same(order, ['request.Z', 'request.a', 'request.é', 'request.😀']);
});

t.test('validatePayload: endpoints and directions', async (t) => {
  t.same(run({}, 'PUT /nope'), [{ path: 'PUT /nope', message: 'endpoint "PUT /nope" not in contract' }]);
  t.same(run({}, 'POST /api/trucks', 'body'), [{ path: 'body', message: 'unknown direction "body" (use request, response, query, or error)' }]);
  t.same(run({}, 'GET /api/trucks', 'request'), [{ path: 'GET /api/trucks', message: 'endpoint "GET /api/trucks" has no request definition' }]);
  t.same(run({}, 'GET /api/trucks', 'error'), [{ path: 'GET /api/trucks', message: 'endpoint "GET /api/trucks" has no error definition' }]);
  t.same(run({ page: 'x' }, 'GET /api/trucks', 'query'), [{ path: 'query.page', message: 'expected number, got string' }]);
  t.same(run({ id: 1 }, 'GET /api/trucks', 'response'), [{ path: 'response.id', message: 'expected string, got float64' }], 'response falls back to response_array');
  t.same(run({ id: 'x', done_at: null }, 'POST /api/trucks', 'response'), []);
  t.same(run({}, 'POST /api/trucks', 'error'), [{ path: 'error.message', message: 'missing required field "message"' }]);
  const r = validate({ ...ref('{"kind":"x"}'), endpoint: 'a', direction: 'request', payload: {} });
  t.same(r, { ok: false, error: 'expected kind "contract", got "x"' });
});

t.test('live test helpers: plan and reply checks', async (t) => {
  const c = ref(TRUCKS);
  t.same(planTest({ ...c, endpoint: 'PUT /x' }), { ok: true, found: false, response_status: 0, request_violations: [] });
  t.same(planTest({ ...c, endpoint: 'POST /api/trucks' }), { ok: true, found: true, response_status: 201, request_violations: [] }, 'no test_data: no request check');
  t.same(planTest({ ...c, endpoint: 'POST /api/trucks', test_data: { plate: 'x' } }), {
    ok: true,
    found: true,
    response_status: 201,
    request_violations: [{ path: 'request.owner', message: 'missing required field "owner"' }],
  });
  t.same(planTest({ ...c, endpoint: 'GET /api/trucks', test_data: { page: 1 } }), { ok: true, found: true, response_status: 0, request_violations: [] }, 'no request section: no check');

  const reply = (endpoint: string, body: string) => checkReply({ ...c, endpoint, body: Buffer.from(body) });
  t.same(reply('GET /api/trucks', '[{"id":"a"},{"id":5},3,null,{"x":1}]'), {
    ok: true,
    violations: [
      { path: 'response[1].id', message: 'expected string, got float64' },
      { path: 'response[2]', message: 'expected object, got non-object' },
      { path: 'response[3]', message: 'expected object, got non-object' },
      { path: 'response[4].x', message: 'unexpected field "x" (contract defines: id)' },
    ],
  });
  t.same(reply('GET /api/trucks', '{"id":5}'), { ok: true, violations: [] }, 'an object where an array is defined: ignored');
  t.same(reply('POST /api/trucks', '{"id":5,"done_at":null}'), { ok: true, violations: [{ path: 'response.id', message: 'expected string, got float64' }] });
  t.same(reply('POST /api/trucks', '[{"id":5}]'), { ok: true, violations: [] }, 'an array where an object is defined: ignored');
  t.same(reply('POST /api/trucks', 'not json'), { ok: true, violations: [] }, 'unparseable: ignored');
});

t.test('compliance check: contracts only, endpoints without schemas by name', async (t) => {
  const contract = { kind: 'contract', endpoints: { 'POST /b': {}, 'GET /a': { query: {} }, 'GET /ok': { response_array: { id: { type: 'string' } } }, 'DELETE /c': { response_status: 204, error: { m: {} } } } };
  const spec = (name: string, doc: unknown) => {
    const { contract: data, hash } = ref(doc);
    return { name, data, hash };
  };
  const r = complianceCheck({ specs: [spec('api', contract), spec('notes', 'free text'), spec('good', TRUCKS)] });
  const v = (ep: string) => ({ path: `endpoints.${ep}`, message: 'endpoint has no request, response, or query schema defined' });
  t.same(r, { contracts: [{ name: 'api', violations: [v('DELETE /c'), v('GET /a'), v('POST /b')] }, { name: 'good', violations: [] }] });
});

t.test('the compiled-contract cache is bounded', async (t) => {
  const wrong: number[] = [];
  for (let i = 0; i < CONTRACT_CACHE_MAX + 50; i++) {
    const doc = { kind: 'contract', endpoints: { [`GET /n${i}`]: { request: { n: { type: 'number' } } } } };
    const v = run({ n: 'x' }, `GET /n${i}`, 'request', doc);
    if (v.length !== 1 || v[0]!.message !== 'expected number, got string') wrong.push(i);
  }
  t.same(wrong, [], 'every contract answered right');
  t.ok(cachedContracts() <= CONTRACT_CACHE_MAX, `${cachedContracts()} cached`);
  // An evicted contract compiles again and still answers the same.
  t.same(run({ n: 'x' }, 'GET /n0', 'request', { kind: 'contract', endpoints: { 'GET /n0': { request: { n: { type: 'number' } } } } }), [{ path: 'request.n', message: 'expected number, got string' }]);
});
