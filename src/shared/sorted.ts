/** The index of the first item greater than `x` in `sorted` (ascending by `<`: strings by UTF-16 code unit). */
export function firstAfter<T extends string | number>(sorted: readonly T[], x: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
