/**
 * "No two holders of one file at once", judged from the client's side with its own monotonic
 * clock, so it never blames the server for the client's uncertainty:
 *
 *   - a hold of file F by H runs from the moment H *received* the grant (a lease's 200, a hook's
 *     first allow of F) to the moment H *sent* its release (DELETE of the lease, SessionEnd):
 *     the server certainly had it granted to H over that whole span;
 *   - a grant to anyone else is a decision the server took somewhere between that request's
 *     send and its reply.
 *
 * A violation is a grant to G whose whole [send, reply] lies strictly inside a hold of F by
 * another holder: the server let G have F while H certainly held it. Leases with a TTL are held
 * at most until the TTL could have run out (measured from the grant's send).
 */
export interface Span {
  file: string;
  who: string;
  from: number;
  to: number;
}

export class Holds {
  readonly grants: Span[] = [];
  readonly closed: Span[] = [];
  private readonly open = new Map<string, { span: Span; ttlEnd: number }>();

  /** A grant to `who`: decided between `sentAt` and `repliedAt`. Opens a hold unless one is open. */
  grant(file: string, who: string, sentAt: number, repliedAt: number, ttlMs = Infinity): void {
    this.grants.push({ file, who, from: sentAt, to: repliedAt });
    const k = `${file}\u0000${who}`;
    if (!this.open.has(k)) this.open.set(k, { span: { file, who, from: repliedAt, to: Infinity }, ttlEnd: sentAt + ttlMs });
  }

  /** `who` sent the release of `file` at `sentAt`. */
  release(file: string, who: string, sentAt: number): void {
    const k = `${file}\u0000${who}`;
    const h = this.open.get(k);
    if (!h) return;
    this.open.delete(k);
    h.span.to = Math.min(sentAt, h.ttlEnd);
    this.closed.push(h.span);
  }

  /** Closes what is still open at `at` (holders that never released: held until the end). */
  closeAll(at: number): void {
    for (const [k, h] of this.open) {
      h.span.to = Math.min(at, h.ttlEnd);
      this.closed.push(h.span);
      this.open.delete(k);
    }
  }

  /** Every grant checked against every other holder's hold of the same file. */
  check(report: (ok: boolean, detail: () => string) => void): void {
    const byFile = new Map<string, Span[]>();
    for (const h of this.closed) {
      let a = byFile.get(h.file);
      if (!a) byFile.set(h.file, (a = []));
      a.push(h);
    }
    for (const a of byFile.values()) a.sort((x, y) => x.from - y.from);
    for (const g of this.grants) {
      const holds = byFile.get(g.file) ?? [];
      let clash: Span | undefined;
      for (const h of holds) {
        if (h.from >= g.from) break;
        if (h.who !== g.who && g.to < h.to) {
          clash = h;
          break;
        }
      }
      report(clash === undefined, () => `${g.file}: granted to ${g.who} within [${g.from.toFixed(0)}, ${g.to.toFixed(0)}] ms while ${clash!.who} held it over [${clash!.from.toFixed(0)}, ${clash!.to.toFixed(0)}] ms`);
    }
  }
}
