import v8 from 'node:v8';

/**
 * No allocation-site pretenuring. V8 allocates an object literal straight into the old generation
 * once most of its site's objects have outlived a scavenge; a site stays pretenured after that.
 * While the read cache fills, every value read past it is kept, so the sites of a read's row and
 * entry were pretenured at start-up, and from then on the read past a full cache — whose row and
 * entry die with the request — filled the old generation with garbage: a mark-compact every
 * second or so and 5 ms scavenges. Measured (GET over 100,000 keys, 50 connections, four
 * alternating pairs of 3 × 3 s): p99 19–23 → 5–15 ms, req/s +8 % at the median; PUT and one
 * connection's latency level. Set before anything else is loaded; V8 flags are the
 * process's, so the worker threads run with it too.
 */
v8.setFlagsFromString('--no-allocation-site-pretenuring');

/**
 * The old generation's next full collection at twice the heap the last one left, not at V8's
 * dynamic factor (up to 4× on a machine this size, from how fast its collections ran against
 * the program). Under a steady load the old generation fills with what the caches let go — the
 * news clock's events, the concern index's paths, session copies read anew (~1.6 MB/s at 1,000
 * agents, a sampling heap profile of the objects that outlive a scavenge) — until that limit.
 * With the dynamic factor the front's heap at the end of a 1,000-agent window was 62–259 MB
 * across runs of the same code, and the server's RSS 125–353 MB; with the factor fixed it peaks
 * at about twice the live heap (A B B A at 1,000 agents: front heap 99 and 96 MB fixed, 99 and
 * 166 dynamic; server CPU a hook 188 and 197 µs against 176 and 191, within those runs' noise).
 * Read at every full collection, so set here it applies from the first; the worker threads'
 * heaps take it too.
 */
v8.setFlagsFromString('--heap-growing-percent=100');
