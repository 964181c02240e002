/**
 * `o` without its undefined members, typed so: an optional field filled only when it has a value,
 * as `exactOptionalPropertyTypes` wants (`{ id, ...defined({ fence }) }` in place of
 * `...(fence === undefined ? {} : { fence })`).
 */
export type Defined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & { [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined> };

export function defined<T extends Record<string, unknown>>(o: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out as Defined<T>;
}
