import { ContractTestBody, ContractTestReply, ContractValidateBody, ContractValidateReply } from '../../../schemas/http/contracts.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import type { ContractService } from './service.js';
import { projectParam, rule } from '../../http/permissions.js';

const param = (ctx: Ctx, i: number): string => pathName(ctx.params[i]!, i === 0 ? 'project' : 'name');

/** Contracts are specs; these two routes check payloads and live backends against them. Not audited. */
export function contractRoutes(svc: ContractService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/contracts/:project/:name/validate',
      summary: 'Check a payload against a contract',
      rule: rule('read', 'validate contracts', projectParam),
      replies: { 200: ContractValidateReply },
      body: 'json',
      schema: ContractValidateBody,
      handler: async (ctx) => sendJson(ctx, 200, await svc.validate(param(ctx, 0), param(ctx, 1), ctx.json as Parameters<ContractService['validate']>[2])),
    },
    {
      method: 'POST',
      path: '/api/contracts/:project/:name/test',
      summary: 'Call an endpoint and check its reply against a contract',
      rule: rule('read', 'test contracts', projectParam),
      replies: { 200: ContractTestReply },
      body: 'json',
      schema: ContractTestBody,
      handler: async (ctx) => sendJson(ctx, 200, await svc.test(param(ctx, 0), param(ctx, 1), ctx.json as Parameters<ContractService['test']>[2])),
    },
  ];
}
