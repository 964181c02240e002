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
