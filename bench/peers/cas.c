/*
 * The contended compare-and-set generator of bench/peers' cas row, in C: `clients`
 * connections add 1 to one counter, each sending its next compare-and-set as soon as the reply to
 * its last one is read, for `seconds`. bench/peers/client.ts sets the counter up, starts this with
 * its value and version, and checks the final value against the successes reported here.
 *
 *   cas koor|etcd|redis|nats <port> <clients> <seconds> <value> <rev> [redis script sha]
 *
 * koor (and the cas floor): POST /api/txn, the lost compare's reply carrying the current value and
 * version. etcd: POST /v3/kv/txn through its JSON gateway, the failure branch a range read of the
 * key. Redis: EVALSHA of a Lua compare-and-set answering the current value. NATS JetStream KV: a
 * publish to the key's subject with Nats-Expected-Last-Subject-Sequence, and after a lost one a
 * direct get of the key (the error names no value). One thread, epoll, one request in flight per
 * connection, loopback only. The Node generator it replaces used 0.8-0.95 of its core against
 * Redis, the cas floor and NATS: near its limit, it held their rates down.
 *
 * Prints one JSON line: successes, conflicts, errors, first_error, duplicates (a value written
 * twice), success p50 in ms, wall seconds and this process's CPU seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static enum kind kind;
static int port;
static const char *sha = "";
static long long start_value;
static long long successes, conflicts, errors, duplicates;
static char first_error[256];
static unsigned char *written; /* written[v - start_value]: value v written once already */
static long long written_cap;
static double *lat;
static long long lat_len, lat_cap;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void error_once(const char *what) {
  errors++;
  if (!first_error[0]) snprintf(first_error, sizeof first_error, "%.200s", what);
}

static void note_written(long long v) {
  long long i = v - start_value;
  if (i < 0) return;
  if (i >= written_cap) {
    long long cap = written_cap ? written_cap : 1 << 16;
    while (cap <= i) cap *= 2;
    written = realloc(written, cap);
    memset(written + written_cap, 0, cap - written_cap);
    written_cap = cap;
  }
  if (written[i]) duplicates++;
  written[i] = 1;
}

static void note_latency(double ms) {
  if (lat_len == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
    lat = realloc(lat, lat_cap * sizeof *lat);
  }
  lat[lat_len++] = ms;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* A base64 text up to its closing quote, decoded into `out` (NUL-terminated); its length or -1. */
static int b64_decode(const char *s, char *out, int cap) {
  int n = 0, bits = 0, acc = 0;
  for (; *s && *s != '"'; s++) {
    if (*s == '=') continue;
    int v = b64_value(*s);
    if (v < 0) return -1;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n + 1 >= cap) return -1;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[n] = 0;
  return n;
}

static void b64_encode(const char *s, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int n = (int)strlen(s), o = 0;
  for (int i = 0; i < n; i += 3) {
    int a = (unsigned char)s[i], b = i + 1 < n ? (unsigned char)s[i + 1] : 0, c = i + 2 < n ? (unsigned char)s[i + 2] : 0;
    out[o++] = t[a >> 2];
    out[o++] = t[((a & 3) << 4) | (b >> 4)];
    out[o++] = i + 1 < n ? t[((b & 15) << 2) | (c >> 6)] : '=';
    out[o++] = i + 2 < n ? t[c & 63] : '=';
  }
  out[o] = 0;
}

/* The request for this client's next compare-and-set, in c->out. */
static void build(struct conn *c) {
  char body[1024];
  int n;
  switch (kind) {
    case KOOR:
      n = snprintf(body, sizeof body,
                   "{\"compare\":[{\"key\":\"" KEY "\",\"version\":%s}],\"success\":[{\"op\":\"put\",\"key\":\"" KEY "\",\"value\":%lld}],\"failure\":[{\"op\":\"get\",\"key\":\"" KEY "\"}]}",
                   c->rev, c->value + 1);
      c->out_len = snprintf(c->out, sizeof c->out, "POST /api/txn HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", port, n, body);
      break;
    case ETCD: {
      char next[32], next64[64];
      snprintf(next, sizeof next, "%lld", c->value + 1);
      b64_encode(next, next64);
      n = snprintf(body, sizeof body,
                   "{\"compare\":[{\"key\":\"" KEY_B64 "\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"%s\"}],\"success\":[{\"request_put\":{\"key\":\"" KEY_B64 "\",\"value\":\"%s\"}}],\"failure\":[{\"request_range\":{\"key\":\"" KEY_B64 "\"}}]}",
                   c->rev, next64);
      c->out_len = snprintf(c->out, sizeof c->out, "POST /v3/kv/txn HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", port, n, body);
      break;
    }
    case REDIS: {
      char cur[32], next[32];
      int lc = snprintf(cur, sizeof cur, "%lld", c->value), ln = snprintf(next, sizeof next, "%lld", c->value + 1);
      c->out_len = snprintf(c->out, sizeof c->out, "*6\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n$1\r\n1\r\n$%d\r\n" KEY "\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
                            (int)strlen(sha), sha, (int)strlen(KEY), lc, cur, ln, next);
      break;
    }
    case NATS: {
      if (c->reading) {
        const char *get = "{\"last_by_subj\":\"" KEY_SUBJECT "\"}";
        c->out_len = snprintf(c->out, sizeof c->out, "PUB " NATS_GET " _INBOX.koorcas.%d %d\r\n%s\r\n", c->index, (int)strlen(get), get);
        break;
      }
      char head[128], next[32];
      int hl = snprintf(head, sizeof head, "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: %s\r\n\r\n", c->rev);
      int nl = snprintf(next, sizeof next, "%lld", c->value + 1);
      c->out_len = snprintf(c->out, sizeof c->out, "HPUB " KEY_SUBJECT " _INBOX.koorcas.%d %d %d\r\n%s%s\r\n", c->index, hl, hl + nl, head, next);
      break;
    }
  }
  c->out_off = 0;
}

/* The number after `name` in `s` (quoted or not), or fails. */
static int number_after(const char *s, const char *name, long long *out, const char **at) {
  const char *p = strstr(s, name);
  if (!p) return -1;
  p += strlen(name);
  if (*p == '"') p++;
  char *end;
  *out = strtoll(p, &end, 10);
  if (end == p) return -1;
  if (at) *at = end;
  return 0;
}

/*
 * One NATS protocol message at the front of c->in: a PING (answered), a publish's ack or the
 * error of a lost compare (MSG), a direct get's reply (HMSG: the sequence in its headers, the
 * value as its payload). Its length and outcome, as parse().
 */
static int parse_nats(struct conn *c, int *outcome) {
  char *eol = strstr(c->in, "\r\n");
  if (!eol) return 0;
  int line = (int)(eol - c->in) + 2;
  *outcome = NOTHING;
  if (strncmp(c->in, "PING", 4) == 0) {
    if (write(c->fd, "PONG\r\n", 6) != 6) error_once("nats: PONG not sent");
    return line;
  }
  if (c->in[0] == '+' || strncmp(c->in, "PONG", 4) == 0 || strncmp(c->in, "INFO", 4) == 0) return line;
  if (c->in[0] == '-') {
    *eol = 0;
    error_once(c->in);
    *outcome = FAILED;
    return line;
  }
  int hmsg = strncmp(c->in, "HMSG ", 5) == 0;
  if (!hmsg && strncmp(c->in, "MSG ", 4) != 0) {
    error_once("nats: an unexpected protocol line");
    *outcome = FAILED;
    return c->in_len;
  }
  /* The line ends with [header bytes] total bytes. */
  char *sp = eol;
  while (sp > c->in && sp[-1] != ' ') sp--;
  int total = atoi(sp), hlen = 0;
  if (hmsg) {
    char *sp2 = sp - 1;
    while (sp2 > c->in && sp2[-1] != ' ') sp2--;
    hlen = atoi(sp2);
  }
  char *body = eol + 2;
  if (body + total + 2 > c->in + c->in_len) return 0;
  int used = (int)(body + total + 2 - c->in);
  char saved = body[total];
  body[total] = 0;
  *outcome = FAILED;
  char msg[200];
  if (hmsg) {
    char *seq = strcasestr(body, "\r\nNats-Sequence:");
    if (!c->reading || !seq || seq > body + hlen) {
      error_once("nats: a direct get without the sequence");
    } else {
      snprintf(c->rev, sizeof c->rev, "%lld", strtoll(seq + 16, NULL, 10));
      c->value = strtoll(body + hlen, NULL, 10);
      c->reading = 0;
      *outcome = READ;
    }
  } else if (c->reading) {
    snprintf(msg, sizeof msg, "nats direct get: %.150s", body);
    error_once(msg);
  } else if (strstr(body, "\"err_code\":10071")) {
    c->reading = 1; /* wrong last sequence: re-read, the error names no value */
    *outcome = LOST;
  } else if (strstr(body, "\"error\"")) {
    snprintf(msg, sizeof msg, "nats: %.150s", body);
    error_once(msg);
  } else {
    long long seq;
    if (number_after(body, "\"seq\":", &seq, NULL) != 0) {
      error_once("nats: an ack without its sequence");
    } else {
      c->value += 1;
      snprintf(c->rev, sizeof c->rev, "%lld", seq);
      *outcome = WON;
    }
  }
  body[total] = saved;
  return used;
}

/*
 * A whole reply at the front of c->in: its length (and its outcome, applied to c), or 0 while
 * incomplete.
 */
static int parse(struct conn *c, int *outcome) {
  c->in[c->in_len] = 0;
  if (kind == REDIS) {
    /* *2\r\n:<ok>\r\n$<len>\r\n<value>\r\n  (or an error line) */
    if (c->in[0] == '-') {
      char *eol = strstr(c->in, "\r\n");
      if (!eol) return 0;
      *eol = 0;
      error_once(c->in);
      *outcome = FAILED;
      return (int)(eol - c->in) + 2;
    }
    char *p = c->in;
    if (strncmp(p, "*2\r\n:", 5) != 0) return c->in_len >= 5 ? (error_once("redis: unexpected reply"), *outcome = FAILED, c->in_len) : 0;
    char *eol = strstr(p + 5, "\r\n");
    if (!eol) return 0;
    int ok = atoi(p + 5);
    p = eol + 2;
    if (*p != '$') return *p ? (error_once("redis: unexpected value"), *outcome = FAILED, c->in_len) : 0;
    eol = strstr(p, "\r\n");
    if (!eol) return 0;
    int len = atoi(p + 1);
    if (len < 0) {
      error_once("redis: the counter is missing");
      *outcome = FAILED;
      return (int)(eol + 2 - c->in);
    }
    char *v = eol + 2;
    if (v + len + 2 > c->in + c->in_len) return 0;
    c->value = strtoll(v, NULL, 10);
    *outcome = ok == 1 ? WON : LOST;
    return (int)(v + len + 2 - c->in);
  }
  if (kind == NATS) return parse_nats(c, outcome);
  char *head_end = strstr(c->in, "\r\n\r\n");
  if (!head_end) return 0;
  char *cl = strcasestr(c->in, "\r\ncontent-length:");
  if (!cl || cl > head_end) {
    error_once("http: a reply without Content-Length");
    *outcome = FAILED;
    return c->in_len;
  }
  int len = atoi(cl + 17);
  char *body = head_end + 4;
  if (body + len > c->in + c->in_len) return 0;
  int total = (int)(body + len - c->in);
  char saved = body[len];
  body[len] = 0;
  int status = atoi(c->in + 9);
  *outcome = FAILED;
  if (status != 200) {
    char msg[200];
    snprintf(msg, sizeof msg, "HTTP %d %.150s", status, body);
    error_once(msg);
  } else if (kind == KOOR) {
    /* {"succeeded":b,"revision":r,"results":[{"op":..,"key":..,"version":v,...,"value":n,...}]} */
    const char *results = strstr(body, "\"results\"");
    long long version, value;
    const char *at;
    if (!results || number_after(results, "\"version\":", &version, &at) != 0) {
      error_once("koor: a reply without the version");
    } else if (strncmp(body, "{\"succeeded\":true", 17) == 0) {
      c->value += 1;
      snprintf(c->rev, sizeof c->rev, "%lld", version);
      *outcome = WON;
    } else if (number_after(at, "\"value\":", &value, NULL) != 0) {
      error_once("koor: a lost compare without the value");
    } else {
      c->value = value;
      snprintf(c->rev, sizeof c->rev, "%lld", version);
      *outcome = LOST;
    }
  } else {
    /* success: {"header":{..."revision":"r"...},"succeeded":true,...}; failure: the range's kvs[0] */
    long long rev;
    if (strstr(body, "\"succeeded\":true")) {
      if (number_after(body, "\"revision\":", &rev, NULL) != 0) {
        error_once("etcd: a reply without the revision");
      } else {
        c->value += 1;
        snprintf(c->rev, sizeof c->rev, "%lld", rev);
        *outcome = WON;
      }
    } else {
      const char *kvs = strstr(body, "\"kvs\"");
      const char *v = kvs ? strstr(kvs, "\"value\":\"") : NULL;
      char text[32];
      if (!kvs || number_after(kvs, "\"mod_revision\":", &rev, NULL) != 0 || !v || b64_decode(v + 9, text, sizeof text) <= 0) {
        error_once("etcd: a lost compare without the key's value");
      } else {
        c->value = strtoll(text, NULL, 10);
        snprintf(c->rev, sizeof c->rev, "%lld", rev);
        *outcome = LOST;
      }
    }
  }
  body[len] = saved;
  return total;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int send_some(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->out_off += (int)n;
  }
  return 0;
}

/* NATS: the server's INFO read, CONNECT with headers, this client's inbox subscribed, a PONG awaited. */
static int nats_handshake(struct conn *c) {
  char hello[256];
  int n = snprintf(hello, sizeof hello,
                   "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1,\"lang\":\"c\",\"version\":\"0\"}\r\n"
                   "SUB _INBOX.koorcas.%d 1\r\nPING\r\n",
                   c->index);
  if (write(c->fd, hello, n) != n) return perror("cas: nats handshake"), -1;
  int len = 0;
  char buf[8192];
  while (len < (int)sizeof buf - 1) {
    ssize_t got = read(c->fd, buf + len, sizeof buf - 1 - len);
    if (got <= 0) return fprintf(stderr, "cas: nats closed the connection in the handshake\n"), -1;
    len += (int)got;
    buf[len] = 0;
    if (strstr(buf, "-ERR")) return fprintf(stderr, "cas: nats: %.200s\n", strstr(buf, "-ERR")), -1;
    if (strstr(buf, "PONG\r\n")) return 0;
  }
  return fprintf(stderr, "cas: no PONG from nats\n"), -1;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: cas koor|etcd|redis|nats <port> <clients> <seconds> <value> <rev> [redis script sha]\n");
    return 2;
  }
  kind = strcmp(argv[1], "etcd") == 0 ? ETCD : strcmp(argv[1], "redis") == 0 ? REDIS : strcmp(argv[1], "nats") == 0 ? NATS : KOOR;
  if (strcmp(argv[1], "koor") != 0 && kind == KOOR) {
    fprintf(stderr, "cas: unknown server kind %s\n", argv[1]);
    return 2;
  }
  port = atoi(argv[2]);
  int clients = atoi(argv[3]);
  double seconds = atof(argv[4]);
  start_value = strtoll(argv[5], NULL, 10);
  if (argc > 7) sha = argv[7];
  if (clients < 1 || clients > MAX_CLIENTS || seconds <= 0 || seconds > 600 || port <= 0 || (kind == REDIS && !sha[0])) {
    fprintf(stderr, "cas: bad arguments\n");
    return 2;
  }
  static struct conn conns[MAX_CLIENTS];
  int ep = epoll_create1(0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < clients; i++) {
    struct conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      perror("cas: connect");
      return 1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->value = start_value;
    c->index = i;
    snprintf(c->rev, sizeof c->rev, "%s", argv[6]);
    if (kind == NATS && nats_handshake(c) != 0) return 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  struct rusage r0;
  getrusage(RUSAGE_SELF, &r0);
  double start = now(), end = start + seconds, hard = end + 30;
  for (int i = 0; i < clients; i++) {
    build(&conns[i]);
    conns[i].sent_at = now();
    if (send_some(&conns[i]) != 0) error_once("write failed");
  }
  int active = clients;
  struct epoll_event evs[MAX_CLIENTS];
  while (active > 0 && now() < hard) {
    int n = epoll_wait(ep, evs, MAX_CLIENTS, 1000);
    for (int k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      ssize_t got = read(c->fd, c->in + c->in_len, BUF - 1 - c->in_len);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        error_once(got == 0 ? "the server closed a connection" : "read failed");
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        active--;
        continue;
      }
      c->in_len += (int)got;
      for (;;) {
        int outcome, used = parse(c, &outcome);
        if (used == 0) {
          if (c->in_len >= BUF - 1) {
            error_once("a reply larger than the buffer");
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            active--;
          }
          break;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (outcome == NOTHING) continue;
        double t = now();
        if (outcome == WON) {
          successes++;
          note_latency((t - c->sent_at) * 1e3);
          note_written(c->value);
        } else if (outcome == LOST) {
          conflicts++;
        }
        if (t >= end || errors > MAX_ERRORS) {
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          active--;
          break;
        }
        build(c);
        if (!c->reading) c->sent_at = t; /* a success's latency: its compare-and-set alone */
        if (send_some(c) != 0) error_once("write failed");
      }
    }
  }
  double wall = now() - start;
  if (active > 0) error_once("replies still missing 30 s after the end");
  struct rusage r1;
  getrusage(RUSAGE_SELF, &r1);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
  qsort(lat, lat_len, sizeof *lat, cmp_double);
  double p50 = lat_len ? lat[lat_len / 2] : -1;
  char esc[512];
  int o = 0;
  for (const char *s = first_error; *s && o < (int)sizeof esc - 8; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') esc[o++] = '\\', esc[o++] = (char)ch;
    else if (ch < 0x20) o += snprintf(esc + o, sizeof esc - o, "\\u%04x", ch);
    else esc[o++] = (char)ch;
  }
  esc[o] = 0;
  printf("{\"successes\":%lld,\"conflicts\":%lld,\"errors\":%lld,\"first_error\":\"%s\",\"duplicates\":%lld,\"success_p50_ms\":%.3f,\"wall_s\":%.3f,\"cpu_s\":%.3f}\n",
         successes, conflicts, errors, esc, duplicates, p50, wall, cpu);
  return 0;
}
