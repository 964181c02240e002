/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, an exact-pinned
 * devDependency) against a real Koor's /mcp, run by the suite's own CLI. Every check it records
 * (its checks.json) for a server scenario that applies to Koor must be SUCCESS — a FAILURE or a
 * WARNING (a SHOULD not met) fails the test, named with the suite's message. The scenarios that do
 * not apply are listed below with the reason (their outcome is only reported), and the scenarios
 * the suite runs must be exactly the two lists: a new version's new scenario is looked at, not
 * silently left out.
 *
 * The suite is written for Node 22 (it imports `globSync` from 'fs'); this package runs on Node 20,
 * so the CLI runs with test/helpers/fs-glob-sync.ts preloaded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';

const SUITE = '@modelcontextprotocol/conformance';
const PRELOAD = fileURLToPath(new URL('../helpers/fs-glob-sync.js', import.meta.url));
/** The whole suite: ~4 s on an idle machine; its longest wait is 10 s (an SSE stream read). */
const RUN_TIMEOUT_MS = 60_000;

/** The server scenarios that apply to Koor, and what each shows. */
const APPLICABLE: Record<string, string> = {
  'server-initialize': 'the initialize handshake and the initialized notification',
  ping: 'ping answers {}',
  'tools-list': 'every tool has a name, a description and an input schema',
  'server-sse-multiple-streams': 'three concurrent POSTs on one session each get a working SSE stream (SEP-1699)',
  'dns-rebinding-protection': 'Host/Origin evil.example.com refused with a 4xx, the loopback Host/Origin served (the Host/Origin guard, src/front/host-guard.ts)',
};

const FIXTURE_TOOL = 'calls a tool of the suite’s reference server, which Koor (exactly its five tools) does not have';
const NO_RESOURCES = 'Koor declares no resources capability (resources/* answer -32601 Method not found)';
const NO_PROMPTS = 'Koor declares no prompts capability (prompts/* answer -32601 Method not found)';
/** The server scenarios that do not apply to Koor, and why. */
const NOT_APPLICABLE: Record<string, string> = {
  'logging-set-level': 'Koor declares no logging capability (logging/setLevel answers -32601 Method not found)',
  'completion-complete': 'Koor declares no completions capability and has no prompts or resource templates to complete',
  // This one and tools-call-error "pass" against Koor only because it answers an unknown tool with an isError result.
  'tools-call-simple-text': `${FIXTURE_TOOL} (test_simple_text)`,
  'tools-call-image': `${FIXTURE_TOOL} (test_image_content)`,
  'tools-call-audio': `${FIXTURE_TOOL} (test_audio_content)`,
  'tools-call-embedded-resource': `${FIXTURE_TOOL} (test_embedded_resource)`,
  'tools-call-mixed-content': `${FIXTURE_TOOL} (test_multiple_content_types)`,
  'tools-call-with-logging': `${FIXTURE_TOOL} (test_tool_with_logging)`,
  'tools-call-error': `${FIXTURE_TOOL} (test_error_handling)`,
  'tools-call-with-progress': `${FIXTURE_TOOL} (test_tool_with_progress)`,
  'tools-call-sampling': `${FIXTURE_TOOL} (test_sampling); Koor never asks the client for sampling`,
  'tools-call-elicitation': `${FIXTURE_TOOL} (test_elicitation); Koor never asks the client for elicitation`,
  'json-schema-2020-12': `${FIXTURE_TOOL} (json_schema_2020_12_tool)`,
  'elicitation-sep1034-defaults': `${FIXTURE_TOOL} (test_elicitation_sep1034_defaults)`,
  'elicitation-sep1330-enums': `${FIXTURE_TOOL} (test_elicitation_sep1330_enums)`,
  'server-sse-polling': `${FIXTURE_TOOL} (test_reconnection, which closes its SSE stream mid-call)`,
  'resources-list': NO_RESOURCES,
  'resources-read-text': NO_RESOURCES,
  'resources-read-binary': NO_RESOURCES,
  'resources-templates-read': NO_RESOURCES,
  'resources-subscribe': NO_RESOURCES,
  'resources-unsubscribe': NO_RESOURCES,
  'prompts-list': NO_PROMPTS,
  'prompts-get-simple': NO_PROMPTS,
  'prompts-get-with-args': NO_PROMPTS,
  'prompts-get-embedded-resource': NO_PROMPTS,
  'prompts-get-with-image': NO_PROMPTS,
};

interface Check {
  id: string;
  name: string;
  description: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | string;
  errorMessage?: string;
  details?: unknown;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The suite's CLI, if it is installed: its entry point and version. */
function findSuite(): { bin: string; version: string } | { skip: string } {
  let pkgFile: string;
  try {
    pkgFile = createRequire(import.meta.url).resolve(`${SUITE}/package.json`);
  } catch (e) {
    return { skip: `${SUITE} is not installed (a devDependency: npm ci installs it): ${(e as Error).message.split('\n')[0]}` };
  }
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { version: string; bin: Record<string, string> };
  return { bin: path.join(path.dirname(pkgFile), pkg.bin.conformance!), version: pkg.version };
}

/**
 * The CLI with `args`, run as a user runs it: without the process-info hook tap puts in
 * NODE_OPTIONS of everything a test spawns, with the Node 22 `fs.globSync` preload.
 */
function conformance(bin: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', PRELOAD, bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Each scenario's checks, from the checks.json the CLI wrote in `outDir`/server-<scenario>-<timestamp>/. */
function readChecks(outDir: string): Map<string, Check[]> {
  const out = new Map<string, Check[]>();
  for (const dir of fs.existsSync(outDir) ? fs.readdirSync(outDir) : []) {
    const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir);
    const file = path.join(outDir, dir, 'checks.json');
    if (m && fs.existsSync(file)) out.set(m[1]!, JSON.parse(fs.readFileSync(file, 'utf8')) as Check[]);
  }
  return out;
}

const count = (checks: readonly Check[], status: string): number => checks.filter((c) => c.status === status).length;

const suite = findSuite();
if ('skip' in suite) t.plan(0, suite.skip);
else {
  t.test(`${SUITE}@${suite.version} server scenarios against Koor's /mcp`, async (t) => {
    const srv = await startTestServer(t);
    const outDir = tempDir(t, 'koor-conformance-');
    // One run of the whole suite: each run of the CLI costs ~1.5 s of CPU to start, more than all
    // its scenarios together; the ones that do not apply fail harmlessly (unknown tool, -32601).
    const run = await conformance(suite.bin, ['server', '--url', `${srv.url}/mcp`, '--suite', 'all', '-o', outDir], outDir);
    const output = `exit ${run.code ?? run.signal}\n${run.stdout}${run.stderr}`;
    t.ok(run.code === 0 || run.code === 1, 'the suite ran to its end (exit 1: scenarios that do not apply failed)', { output });
    const results = readChecks(outDir);
    t.same(
      [...results.keys()].sort(),
      [...Object.keys(APPLICABLE), ...Object.keys(NOT_APPLICABLE)].sort(),
      'the suite ran the server scenarios this test knows: a new one is to be asserted here or said not to apply',
      { output },
    );
    for (const [scenario, what] of Object.entries(APPLICABLE)) {
      t.test(`${scenario}: ${what}`, async (t) => {
        const checks = results.get(scenario);
        if (checks === undefined) return t.fail(`the suite wrote no checks.json for ${scenario}`, { output });
        const verdicts = checks.filter((c) => c.status !== 'INFO');
        t.ok(count(verdicts, 'SUCCESS') > 0, 'at least one check passed', { checks });
        for (const c of verdicts) t.equal(c.status, 'SUCCESS', `${c.id}: ${c.description}`, { errorMessage: c.errorMessage, details: c.details });
      });
    }
    for (const [scenario, why] of Object.entries(NOT_APPLICABLE)) {
      const checks = results.get(scenario) ?? [];
      t.comment(`not asserted: ${scenario} (${count(checks, 'SUCCESS')} passed, ${count(checks, 'FAILURE')} failed, ${count(checks, 'WARNING')} warnings): ${why}`);
    }
  });
}
