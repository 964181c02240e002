/** Named re-exports of every shared schema (no logic, no I/O). */
export { STATUS_NAMES, StatusName, ErrorBody, WireError } from './errors.js';
export { ERRORS, errorMessage, type ErrorCode, type ErrorParams } from './error-catalogue.js';
export { Bytes, RequestEnvelope, ReplyEnvelope, type MethodDef, type MethodTable, type ReqOf, type ResOf } from './rpc/envelope.js';
export { WriterMethods, Event, Instance, LeaseRow, TaskRow, type WriterMethod } from './rpc/writer.js';
export { PoolMethods, DiffEntry } from './rpc/pool.js';
export { PublishBody } from './http/events.js';
export { RegisterBody, CapabilitiesBody } from './http/instances.js';
export { LeaseBody, RenewBody, CheckBody } from './http/leases.js';
export { TaskBody, ClaimBody, SettleBody } from './http/tasks.js';
export { MCP_TOOLS, type ToolDef, type ToolName } from './http/mcp.js';
