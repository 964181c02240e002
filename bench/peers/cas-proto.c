/*
 * The cas generator's protocols (see cas.c): the compare-and-set request of each server (koor and
 * etcd over HTTP/1.1, Redis over RESP, NATS JetStream KV over its text protocol) and the reading
 * of its reply: won, lost (with the value and version learnt), a re-read, or an error.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cas.h"

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
void build(struct conn *c) {
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
int parse(struct conn *c, int *outcome) {
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
