/**
 * TypeBox, as koor uses it: every schema and compiled validator imports it from here, never from
 * 'typebox' directly. typebox 1.x ships as ~700 small ES modules, and loading them cost every
 * thread that validates messages (the front, the writer, each pool thread, webhook delivery)
 * ~0.25 s of CPU at start; `npm run build` replaces this file's output (dist/schemas/typebox.js)
 * with one bundled module (schemas/build.mjs), which loads in ~0.02 s. The types come from here
 * as written.
 */
export { Type, type Static, type TArray, type TBoolean, type TNull, type TObject, type TOptional, type TSchema, type TUnion } from 'typebox';
export { Compile } from 'typebox/compile';
