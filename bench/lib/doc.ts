/** The document the suites write and read: a plausible agent-state JSON of a fixed size. */

/** Bytes of the default document. */
export const DOC_BYTES = 1024;

/** A plausible agent-state document, padded to exactly DOC_BYTES bytes of JSON. */
export function makeDoc(bytes = DOC_BYTES): string {
  const base = {
    agent: 'claude-frontend-7',
    project: 'koor',
    task: 'Wire the dashboard state panel to the /api/state list and keep it fresh over /ws',
    status: 'in_progress',
    files: ['web/src/panels/State.tsx', 'web/src/api/client.ts', 'web/src/hooks/useEvents.ts'],
    decisions: [
      { at: '2026-02-16T14:30:00Z', text: 'Poll with If-None-Match instead of refetching' },
      { at: '2026-02-16T14:42:10Z', text: 'Render values lazily above 64 KB' },
    ],
    blockers: [],
    pad: '',
  };
  const without = JSON.stringify(base).length;
  if (without > bytes) throw new Error(`doc skeleton is ${without} bytes > ${bytes}`);
  base.pad = 'x'.repeat(bytes - without);
  const s = JSON.stringify(base);
  if (Buffer.byteLength(s) !== bytes) throw new Error('doc size mismatch');
  return s;
}
