/** Estimated tokens one MCP call costs the model. */
const TOKENS_PER_CALL = 300;

/** In-memory call accounting ("token tax"), zero at start and after reset. */
export class CallCounters {
  rest = 0;
  mcp = 0;

  reset(): void {
    this.rest = 0;
    this.mcp = 0;
  }
}

/** `GET /api/metrics`' `token_tax` object from the two call counts. */
export function tokenTax(rest: number, mcp: number) {
  const total = rest + mcp;
  return {
    mcp_calls: mcp,
    rest_calls: rest,
    total_calls: total,
    mcp_estimated_tokens: mcp * TOKENS_PER_CALL,
    rest_tokens_saved: rest * TOKENS_PER_CALL,
    savings_percent: total === 0 ? 0 : (rest / total) * 100,
  };
}

/** Whole seconds in Go duration form: "0s", "1m0s", "26h3m7s". */
export function goUptime(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
