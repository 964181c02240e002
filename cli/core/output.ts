/** Output: what the CLI prints, and how it writes it. */
import fs from 'node:fs';

/** A server's reply as the CLI's HTTP client returns it (cli/core/http.ts). */
export interface Reply {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * Re-indents JSON text without parsing it into JS values, so member order, number spelling and
 * big integers survive exactly (--pretty preserves server order). `indent` 0 = compact.
 * The caller guarantees `text` is valid JSON.
 */
export function reindentJson(text: string, indent: number): string {
  const pad = (depth: number) => (indent === 0 ? '' : '\n' + ' '.repeat(depth * indent));
  let out = '';
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      let j = i + 1;
      while (j < n && ' \t\n\r'.includes(text[j]!)) j++;
      const close = c === '{' ? '}' : ']';
      if (text[j] === close) {
        out += c + close;
        i = j + 1;
        continue;
      }
      depth++;
      out += c + pad(depth);
    } else if (c === '}' || c === ']') {
      depth--;
      out += pad(depth) + c;
    } else if (c === ',') {
      out += ',' + pad(depth);
    } else if (c === ':') {
      out += indent === 0 ? ':' : ': ';
    } else {
      out += c;
    }
    i++;
  }
  return out;
}

export function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** What the CLI prints for a reply body: unchanged, or with --pretty and a JSON body, 2-space + `\n`. */
export function formatBody(body: Buffer, contentType: string | undefined, pretty: boolean): Buffer | string {
  if (!pretty || body.length === 0 || !/json/i.test(contentType ?? '')) return body;
  const text = body.toString('utf8');
  return isJsonText(text) ? reindentJson(text, 2) + '\n' : body;
}

/** 0 for a 2xx/3xx reply, 1 for ≥ 400 (whose error JSON still goes to stdout). */
export function exitCodeFor(status: number): number {
  return status >= 400 ? 1 : 0;
}

/**
 * Writes to a file descriptor synchronously, without creating process.stdout/stderr (their stream
 * machinery is start-up time the one-shot commands do not need, and a synchronous write is done
 * when it returns, so main.ts may exit right after the command). A reader that went away
 * (`| head`) ends the output quietly; a full non-blocking pipe is retried.
 */
function writeFd(fd: 1 | 2, data: Buffer | string): void {
  let buf = typeof data === 'string' ? Buffer.from(data) : data;
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return;
      throw e;
    }
  }
}

/** Command output (stdout). */
export function writeOut(data: Buffer | string): void {
  writeFd(1, data);
}

/** One status or error line (stderr). */
export function writeErr(line: string): void {
  writeFd(2, line.endsWith('\n') ? line : line + '\n');
}

/** Prints a reply the standard way and returns the exit code. */
export function printReply(reply: Reply, pretty: boolean): number {
  writeOut(formatBody(reply.body, reply.headers['content-type'], pretty));
  // The server cannot say how this CLI is told who it is: say it here (the error JSON stays on stdout).
  if (reply.status === 400 && /(requires|needs) an agent identity/.test(reply.body.toString('utf8', 0, 300))) {
    writeErr('hint: say which agent you are: --instance <instance_id>, or export KOOR_INSTANCE=<instance_id> (`koor-cli register <name>` makes one; `koor-cli instances list` shows them)');
  }
  return exitCodeFor(reply.status);
}

/**
 * Ends terminal output on a line of its own: writes a newline when stdout is a terminal and `out`
 * (just written) did not end with one. Piped or redirected output is left exactly as it was.
 * node:tty is loaded only when it matters.
 */
export async function endLineOnTerminal(out: Buffer | string): Promise<void> {
  if (out.length === 0) return;
  const last = typeof out === 'string' ? out.charCodeAt(out.length - 1) : out[out.length - 1];
  if (last !== 0x0a && (await import('node:tty')).isatty(1)) writeOut('\n');
}
