/**
 * What the soak checked and what it found: per invariant, how many things were checked and how
 * many violated it, with the first few violations spelled out (the rest only counted).
 */

/** Violations kept in full per invariant (the rest are counted). */
const SAMPLES_PER_INVARIANT = 8;

export interface Verdict {
  checked: number;
  violations: number;
  samples: string[];
  /** What was measured, for invariants that are a figure (memory, disk). */
  figure?: string;
}

export class Verdicts {
  /** Invariant name → verdict, in the order first named. */
  readonly all = new Map<string, Verdict>();

  private get(name: string): Verdict {
    let v = this.all.get(name);
    if (!v) this.all.set(name, (v = { checked: 0, violations: 0, samples: [] }));
    return v;
  }

  /** Names an invariant so it is listed even when nothing was checked. */
  declare(name: string): void {
    this.get(name);
  }

  /** `n` things checked against `name` (each violation is reported with fail()). */
  checked(name: string, n = 1): void {
    this.get(name).checked += n;
  }

  /** One violation of `name` (not counted as checked: call checked() for the population). */
  fail(name: string, detail: string): void {
    const v = this.get(name);
    v.violations++;
    if (v.samples.length < SAMPLES_PER_INVARIANT) v.samples.push(detail);
  }

  /** `n` violations of `name` described by one detail. */
  failMany(name: string, n: number, detail: string): void {
    if (n <= 0) return;
    const v = this.get(name);
    v.violations += n;
    if (v.samples.length < SAMPLES_PER_INVARIANT) v.samples.push(detail);
  }

  /** One check: counted, and a violation with `detail()` when `ok` is false. */
  check(name: string, ok: boolean, detail: () => string): void {
    this.checked(name);
    if (!ok) this.fail(name, detail());
  }

  figure(name: string, text: string): void {
    this.get(name).figure = text;
  }

  get violations(): number {
    let n = 0;
    for (const v of this.all.values()) n += v.violations;
    return n;
  }
}
