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
 *
 * Built from this file and cas-proto.c (each server's requests and replies), sharing cas.h:
 *   cc -O2 -o cas cas.c cas-proto.c
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

#include "cas.h"

enum kind kind;
int port;
const char *sha = "";
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

void error_once(const char *what) {
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
