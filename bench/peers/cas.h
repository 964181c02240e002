/*
 * What the two halves of the cas generator share (cas.c drives the connections; cas-proto.c
 * writes each server's compare-and-set request and reads its reply): the key, the connection,
 * the server it talks to, and how an error is noted.
 */
#ifndef KOOR_BENCH_CAS_H
#define KOOR_BENCH_CAS_H

#define KEY "bench/counter"
#define KEY_B64 "YmVuY2gvY291bnRlcg==" /* base64 of KEY, for etcd */
#define KEY_SUBJECT "$KV.bench.bench.counter" /* KEY in the NATS bucket (bench/peers/ops.ts kvSubject) */
#define NATS_GET "$JS.API.DIRECT.GET.KV_bench"
#define MAX_CLIENTS 256
#define BUF 65536
#define MAX_ERRORS 100

enum kind { KOOR, ETCD, REDIS, NATS };
/* What parse() found: a won or lost compare-and-set, a re-read (NATS), nothing to answer (a NATS PING), an error. */
enum outcome { FAILED = -1, LOST = 0, WON = 1, NOTHING = 2, READ = 3 };

struct conn {
  int fd;
  long long value; /* what this client believes the counter holds */
  char rev[32];    /* its version (koor), mod_revision (etcd), subject sequence (NATS); unused for Redis */
  char out[2048];
  int out_len, out_off;
  char in[BUF];
  int in_len;
  double sent_at;
  int index;   /* its NATS inbox: _INBOX.koorcas.<index> */
  int reading; /* NATS: the direct get after a lost compare is in flight */
};

/* The server (from the command line), for every connection. */
extern enum kind kind;
extern int port;
extern const char *sha; /* Redis: the compare-and-set script's SHA */

/* Counts an error; the first one is kept for the report. */
void error_once(const char *what);
/* The request for this client's next compare-and-set, in c->out. */
void build(struct conn *c);
/* A whole reply at the front of c->in: its length (and its outcome, applied to c), or 0 while incomplete. */
int parse(struct conn *c, int *outcome);

#endif
