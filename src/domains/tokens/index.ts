import type { Domain, Platform } from '../domain.js';
import { tokenRoutes } from './routes.js';
import { TokenService } from './service.js';

/** Tokens an admin creates, with a role and scopes. */
export function tokensDomain(p: Platform): Domain & { tokens: TokenService } {
  const tokens = new TokenService(p.readers.tokens, p.writer, p.log.child({ component: 'tokens' }), p.backend.othersWrite);
  return { tokens, routes: tokenRoutes(tokens) };
}
