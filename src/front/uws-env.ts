import { HTTP_MAX_HEAD_BYTES } from '../shared/limits.js';

/**
 * uWS reads its request-head limit from the environment once, when its binary loads: every module
 * that imports uWS imports this first. An operator's own UWS_HTTP_MAX_HEADERS_SIZE wins.
 */
process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(HTTP_MAX_HEAD_BYTES);
