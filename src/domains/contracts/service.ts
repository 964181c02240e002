import type { ContractViolation } from '../../../schemas/rpc/pool.js';
import { AppError, fail } from '../../errors.js';
import { CONTRACT_TEST_MAX_REPLY_BYTES, CONTRACT_TEST_TIMEOUT_MS } from '../../shared/limits.js';
import type { PoolClient } from '../../rpc/pool-client.js';
import type { Awaitable } from '../../shared/awaitable.js';

/** Where contracts are stored: the spec registry; `get` throws NOT_FOUND when absent. */
export interface SpecSource {
  get(project: string, name: string): Awaitable<{ data: Uint8Array; hash: string }>;
}

/** The reply of POST …/test. */
export interface TestResult {
  valid: boolean;
  endpoint: string;
  /** 0 when no reply arrived. */
  status_code: number;
  request_violations: ContractViolation[];
  response_violations: ContractViolation[];
  /** '' when the exchange worked. */
  error: string;
}

const isJsonObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Why a fetch failed, in a line: the socket error behind undici's "fetch failed", or the timeout. */
function describeFailure(e: unknown): string {
  const err = e as Error & { cause?: unknown };
  if (err?.name === 'TimeoutError') return `timeout after ${CONTRACT_TEST_TIMEOUT_MS / 1000}s`;
  const cause = err?.cause ?? err;
  if (cause instanceof AggregateError && cause.errors.length > 0) return [...new Set(cause.errors.map((x: unknown) => describeFailure(x)))].join('; ');
  if (cause instanceof Error) return cause.message !== '' ? cause.message : ((cause as NodeJS.ErrnoException).code ?? cause.name);
  return String(cause);
}

/** A reply body, at most `max` bytes (the rest is not read, like the original's LimitReader). */
async function readCapped(res: Response, max: number): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = value.subarray(0, max - n);
      chunks.push(take);
      n += take.length;
    }
  } finally {
    // Past the cap (or on an error): stop the transfer rather than drain it.
    reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks, n);
}

/**
 * API contracts stored as specs: validate a payload against one endpoint, or test a
 * live backend against one endpoint. Parsing and checking run on the worker pool.
 */
export class ContractService {
  constructor(
    private readonly specs: SpecSource,
    private readonly pool: PoolClient,
  ) {}

  private async load(project: string, name: string): Promise<{ data: Uint8Array; hash: string }> {
    try {
      return await this.specs.get(project, name);
    } catch (e) {
      if (e instanceof AppError && e.status === 'NOT_FOUND') throw fail('CONTRACT_NOT_FOUND', project, name);
      throw e;
    }
  }

  private static notContract(reason: string): AppError {
    return fail('CONTRACT_INVALID', reason);
  }

  /** `POST …/validate`: spec errors first, then the body's. */
  async validate(project: string, name: string, body: { endpoint?: string; direction?: string; payload?: Record<string, unknown> | null }) {
    const spec = await this.load(project, name);
    const endpoint = body.endpoint ?? '';
    const r = await this.pool.run('contract.validate', {
      contract: spec.data,
      hash: spec.hash,
      endpoint,
      direction: body.direction || 'request',
      payload: body.payload ?? {},
    });
    if (!r.ok) throw ContractService.notContract(r.error);
    if (endpoint === '') throw fail('FIELD_REQUIRED', 'endpoint');
    return { valid: r.violations.length === 0, violations: r.violations };
  }

  /**
   * `POST …/test`: checks `test_data` as the request, sends it to `base_url` + the endpoint's
   * path (10 s, redirects followed), and checks the status and the reply (at most 10 MiB).
   */
  async test(project: string, name: string, body: { endpoint?: string; base_url?: string; test_data?: Record<string, unknown> | null }): Promise<TestResult> {
    const spec = await this.load(project, name);
    const endpoint = body.endpoint ?? '';
    const testData = isJsonObject(body.test_data) ? body.test_data : undefined;
    const plan = await this.pool.run('contract.plan_test', { contract: spec.data, hash: spec.hash, endpoint, ...(testData ? { test_data: testData } : {}) });
    if (!plan.ok) throw ContractService.notContract(plan.error);
    if (endpoint === '') throw fail('FIELD_REQUIRED', 'endpoint');
    const baseUrl = body.base_url ?? '';
    if (baseUrl === '') throw fail('FIELD_REQUIRED', 'base_url');
    if (!plan.found) throw fail('ENDPOINT_NOT_IN_CONTRACT', endpoint);
    const space = endpoint.indexOf(' ');
    if (space === -1) throw fail('ENDPOINT_FORMAT', endpoint);
    const method = endpoint.slice(0, space);
    const url = baseUrl.replace(/\/+$/, '') + endpoint.slice(space + 1);

    const result: TestResult = { valid: false, endpoint, status_code: 0, request_violations: plan.request_violations, response_violations: [], error: '' };
    const done = (): TestResult => {
      result.valid = result.request_violations.length === 0 && result.response_violations.length === 0 && result.error === '';
      return result;
    };
    const withBody = testData !== undefined && (method === 'POST' || method === 'PUT' || method === 'PATCH');
    const signal = AbortSignal.timeout(CONTRACT_TEST_TIMEOUT_MS);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        redirect: 'follow',
        signal,
        ...(withBody ? { body: JSON.stringify(testData), headers: { 'content-type': 'application/json' } } : {}),
      });
    } catch (e) {
      result.error = `HTTP request failed: ${describeFailure(e)}`;
      return done();
    }
    result.status_code = res.status;
    if (plan.response_status !== 0 && res.status !== plan.response_status) {
      result.response_violations.push({ path: endpoint, message: `expected status ${plan.response_status}, got ${res.status}` });
    }
    let reply: Buffer;
    try {
      reply = await readCapped(res, CONTRACT_TEST_MAX_REPLY_BYTES);
    } catch (e) {
      result.error = `read response body: ${describeFailure(e)}`;
      return done();
    }
    if (reply.length > 0) {
      const checked = await this.pool.run('contract.check_reply', { contract: spec.data, hash: spec.hash, endpoint, body: reply });
      if (checked.ok) result.response_violations.push(...checked.violations);
    }
    return done();
  }
}
