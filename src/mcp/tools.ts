import { AppError } from '../errors.js';
import type { InstanceService } from '../domains/instances/service.js';
import { regexError } from '../domains/rules/regex.js';
import type { WriterClient } from '../rpc/writer-client.js';
import type { Identity } from '../http/context.js';
import type { ToolName } from '../../schemas/http/mcp.js';

/** A tool failure the model sees as `isError: true` with this text (never a JSON-RPC error). */
export class ToolError extends Error {}

export interface ToolDeps {
  instances: InstanceService;
  writer: WriterClient;
  /** API bind text, verbatim (SPEC §3: api_base = "http://" + bind); port 0 → the bound port. */
  apiBind: () => string;
}

/** Install hint of our distribution (SPEC §7-20). */
export const CLI_INSTALL = 'npm install -g koor';

/** The data-plane map get_endpoints returns (SPEC §3: 16 names). */
export const ENDPOINTS = {
  state_list: 'GET /api/state',
  state_get: 'GET /api/state/{key}',
  state_put: 'PUT /api/state/{key}',
  state_delete: 'DELETE /api/state/{key}',
  specs_list: 'GET /api/specs/{project}',
  specs_get: 'GET /api/specs/{project}/{name}',
  specs_put: 'PUT /api/specs/{project}/{name}',
  specs_delete: 'DELETE /api/specs/{project}/{name}',
  events_publish: 'POST /api/events/publish',
  events_history: 'GET /api/events/history',
  events_ws: 'GET /api/events/subscribe',
  instances_list: 'GET /api/instances',
  instance_get: 'GET /api/instances/{id}',
  instance_activate: 'POST /api/instances/{id}/activate',
  rules_export: 'GET /api/rules/export',
  rules_import: 'POST /api/rules/import',
};

/** Arguments are strings; anything else counts as absent (SPEC §3). */
function str(args: Record<string, unknown>, k: string): string {
  const v = args[k];
  return typeof v === 'string' ? v : '';
}

const failMessage = (e: unknown): string => (e instanceof AppError ? e.message : 'internal error');

/** Runs one tool; returns the JSON value to pretty-print, or throws ToolError. */
export async function runTool(name: string, args: Record<string, unknown>, deps: ToolDeps, caller: Identity | null): Promise<unknown> {
  switch (name as ToolName) {
    case 'register_instance': {
      const n = str(args, 'name');
      if (!n) throw new ToolError('name is required');
      const caps = str(args, 'capabilities');
      try {
        const r = await deps.instances.register({
          name: n,
          workspace: str(args, 'workspace'),
          intent: str(args, 'intent'),
          stack: str(args, 'stack'),
          capabilities: caps === '' ? [] : caps.split(',').map((c) => c.trim()),
        });
        return {
          instance_id: r.id,
          token: r.token,
          name: r.name,
          workspace: r.workspace,
          intent: r.intent,
          stack: r.stack,
          capabilities: r.capabilities,
          status: r.status,
          registered_at: r.registered_at,
          message: `Registered (status: pending). Activate via CLI: koor-cli activate ${r.id}`,
        };
      } catch (e) {
        throw new ToolError(`registration failed: ${failMessage(e)}`);
      }
    }
    case 'discover_instances': {
      const f = (k: string) => str(args, k) || undefined;
      const list = deps.instances.list({ name: f('name'), workspace: f('workspace'), stack: f('stack'), capability: f('capability') });
      return { count: list.length, instances: list };
    }
    case 'set_intent': {
      const id = str(args, 'instance_id');
      const intent = str(args, 'intent');
      if (!id) throw new ToolError('instance_id is required');
      if (!intent) throw new ToolError('intent is required');
      try {
        await deps.instances.update(id, { intent });
      } catch (e) {
        throw new ToolError(`set intent failed: ${failMessage(e)}`);
      }
      return { instance_id: id, intent, message: 'Intent updated successfully.' };
    }
    case 'get_endpoints':
      return {
        api_base: `http://${deps.apiBind()}`,
        endpoints: ENDPOINTS,
        cli: { install: CLI_INSTALL, usage: 'koor-cli --help' },
        message: 'Use REST or koor-cli for all data (0 tokens); MCP only for discovery and proposals. Activate first: koor-cli activate <instance-id>',
      };
    case 'propose_rule': {
      for (const k of ['project', 'rule_id', 'pattern'] as const) if (!str(args, k)) throw new ToolError(`${k} is required`);
      const matchType = str(args, 'match_type') || 'regex';
      const pattern = str(args, 'pattern');
      const checksRegex = matchType === 'regex' || matchType === 'missing' || (matchType === 'custom' && pattern !== 'no-console-log');
      const bad = checksRegex ? regexError(pattern) : null;
      if (bad !== null) throw new ToolError(`propose rule failed: invalid regex pattern: ${bad}`);
      try {
        const r = await deps.writer.call('rules.propose', {
          project: str(args, 'project'),
          rule_id: str(args, 'rule_id'),
          pattern,
          message: str(args, 'message'),
          severity: str(args, 'severity') || 'error',
          match_type: matchType,
          stack: str(args, 'stack'),
          proposed_by: str(args, 'proposed_by') || (caller?.instanceId ?? ''),
          context: str(args, 'context'),
        });
        return { ...r, message: 'Rule proposed successfully. It will be reviewed by the user before activation.' };
      } catch (e) {
        throw new ToolError(`propose rule failed: ${failMessage(e)}`);
      }
    }
    default:
      throw new ToolError(`unknown tool: ${name}`);
  }
}
