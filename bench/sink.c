/* The load generator's reading half for fan-out clients, in C.
 *
 * Why: on this 2-core machine the server under test has core 0 and everything that loads it
 * (bench/loadgen.py, RabbitMQ's share, the dispatcher) core 1. In Python the generator spent
 * 10-13 us of core 1 per delivery, about what the servers spend per delivery on core 0, so the
 * fan-out ceiling was often where core 1 filled up, not where the server did, and the two
 * ratios against Node moved with it (docs/benchmarks.md, 2026-12-04). This reads the same
 * frames for a fraction of that, so the ceiling is the server's.
 *
 * How: bench/loadgen.py connects and authenticates each client, joins its room, and then hands
 * a duplicate of the socket's descriptor over a SOCK_SEQPACKET control socket (SCM_RIGHTS).
 * From then on only this process reads that socket: it answers Engine.IO pings ("2" -> "3")
 * and websocket pings, and for every `42["course_updated",...]` message records the sequence
 * number and the send time that the bench put in "title" ("bench <seq> <epoch seconds>") as
 * (seq, now - sent) with `now` read once per read(), as the Python reader does.
 *
 * Control messages (first byte):
 *   'A' + SCM_RIGHTS descriptors   take over these sockets
 *   'R'                            report: one header message (8 uint64: records, reads,
 *                                  messages, compressed, fragmented, closed, sockets, 0), then the
 *                                  records in messages of up to 4096 {int64 seq; double latency};
 *                                  the counters and records start again from zero
 *   'C'                            close every socket taken over (the generator closes its own)
 * The process ends when the control socket closes.
 *
 * Only uncompressed, unfragmented text frames are read: course_updated payloads are far below
 * the servers' compression threshold (1 KB). A compressed or fragmented frame is counted, not
 * decoded, and its event is therefore missing from the records: it shows as undelivered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS_PER_MESSAGE 253
#define RECORDS_PER_MESSAGE 4096
#define EVENTS 512

struct record { int64_t seq; double latency; };

struct conn {
    int fd;
    size_t len, cap;
    unsigned char *buf;
};

static struct conn **conns;  /* by descriptor */
static size_t conns_cap;
static struct record *records;
static size_t nrecords, records_cap;
static uint64_t reads, messages, compressed, fragmented, closed_count, open_count;
static int epoll_fd;

static void die(const char *what) { perror(what); exit(1); }

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record(int64_t seq, double latency) {
    if (nrecords == records_cap) {
        records_cap = records_cap ? records_cap * 2 : 65536;
        records = realloc(records, records_cap * sizeof *records);
        if (!records) die("realloc");
    }
    records[nrecords].seq = seq;
    records[nrecords].latency = latency;
    nrecords++;
}

static void send_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { usleep(100); continue; }
            return;  /* the peer is gone: its close is seen on the next read */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* a masked client frame with the all-zero key, as bench/loadgen.py sends them */
static void send_frame(int fd, int opcode, const unsigned char *payload, size_t n) {
    unsigned char out[6 + 125];
    if (n > 125) return;
    out[0] = 0x80 | opcode;
    out[1] = 0x80 | (unsigned char)n;
    memset(out + 2, 0, 4);
    memcpy(out + 6, payload, n);
    send_all(fd, out, 6 + n);
}

static void close_conn(struct conn *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->buf);
    free(c);
    closed_count++;
    open_count--;
}

/* `42["course_updated",{..."title": "bench <seq> <sent>"...}]` -> a record */
static void on_text(struct conn *c, const unsigned char *p, size_t n, double now) {
    static const char prefix[] = "42[\"course_updated\"";
    static const char key[] = "\"title\":";
    messages++;
    if (n == 1 && p[0] == '2') {  /* Engine.IO ping */
        send_frame(c->fd, 1, (const unsigned char *)"3", 1);
        return;
    }
    if (n < sizeof prefix - 1 || memcmp(p, prefix, sizeof prefix - 1) != 0) return;
    const unsigned char *t = memmem(p, n, key, sizeof key - 1);
    if (!t) return;
    t += sizeof key - 1;
    const unsigned char *end = p + n;
    while (t < end && *t == ' ') t++;
    if (end - t < 8 || memcmp(t, "\"bench ", 7) != 0) return;
    t += 7;
    char text[64];
    size_t k = 0;
    while (t + k < end && t[k] != '"' && k < sizeof text - 1) { text[k] = (char)t[k]; k++; }
    text[k] = 0;
    char *after;
    long long seq = strtoll(text, &after, 10);
    if (after == text || *after != ' ') return;
    double sent = strtod(after + 1, NULL);
    record(seq, now - sent);
}

/* every complete frame in the buffer; the incomplete rest stays */
static int parse(struct conn *c, double now) {
    size_t pos = 0;
    unsigned char *b = c->buf;
    while (c->len - pos >= 2) {
        unsigned b0 = b[pos], b1 = b[pos + 1];
        uint64_t n = b1 & 0x7F;
        size_t head = 2;
        if (n == 126) {
            if (c->len - pos < 4) break;
            n = ((uint64_t)b[pos + 2] << 8) | b[pos + 3];
            head = 4;
        } else if (n == 127) {
            if (c->len - pos < 10) break;
            n = 0;
            for (int i = 0; i < 8; i++) n = (n << 8) | b[pos + 2 + i];
            head = 10;
        }
        if (c->len - pos < head + n) {
            if (head + n > c->cap) {  /* a frame bigger than the buffer: grow it */
                size_t cap = c->cap;
                while (cap < head + n) cap *= 2;
                memmove(b, b + pos, c->len - pos);
                c->len -= pos;
                unsigned char *grown = realloc(c->buf, cap);
                if (!grown) die("realloc");
                c->buf = grown;
                c->cap = cap;
                return 0;
            }
            break;
        }
        const unsigned char *payload = b + pos + head;
        pos += head + n;
        unsigned opcode = b0 & 0x0F;
        int fin = b0 & 0x80;
        if (opcode == 1 || opcode == 2 || opcode == 0) {
            if (b0 & 0x40) { compressed++; messages++; continue; }
            if (!fin || opcode == 0) { fragmented++; continue; }
            on_text(c, payload, (size_t)n, now);
        } else if (opcode == 9) {
            send_frame(c->fd, 10, payload, (size_t)n);
        } else if (opcode == 8) {
            return -1;
        }
    }
    if (pos) {
        memmove(b, b + pos, c->len - pos);
        c->len -= pos;
    }
    return 0;
}

/* one read per readiness (epoll is level-triggered: more data wakes it again) */
static void on_readable(struct conn *c) {
    if (c->len == c->cap) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
        if (!c->buf) die("realloc");
    }
    ssize_t r;
    do r = read(c->fd, c->buf + c->len, c->cap - c->len); while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0 || (reads++, c->len += (size_t)r, parse(c, now_seconds()) < 0)) close_conn(c);
}

static void take(int fd) {
    if ((size_t)fd >= conns_cap) {
        size_t cap = conns_cap ? conns_cap : 1024;
        while (cap <= (size_t)fd) cap *= 2;
        conns = realloc(conns, cap * sizeof *conns);
        if (!conns) die("realloc");
        memset(conns + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
        conns_cap = cap;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) die("calloc");
    c->fd = fd;
    c->cap = 4096;
    c->buf = malloc(c->cap);
    if (!c->buf) die("malloc");
    conns[fd] = c;
    open_count++;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    on_readable(c);  /* whatever arrived before the hand-over */
}

static void report(int control) {
    uint64_t header[8] = {nrecords, reads, messages, compressed, fragmented, closed_count, open_count, 0};
    if (send(control, header, sizeof header, 0) < 0) die("send");
    for (size_t at = 0; at < nrecords; at += RECORDS_PER_MESSAGE) {
        size_t n = nrecords - at < RECORDS_PER_MESSAGE ? nrecords - at : RECORDS_PER_MESSAGE;
        if (send(control, records + at, n * sizeof *records, 0) < 0) die("send");
    }
    nrecords = 0;
    reads = messages = compressed = fragmented = closed_count = 0;
}

/* returns 0 when the control socket has closed */
static int on_control(int control) {
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union { char buf[CMSG_SPACE(MAX_FDS_PER_MESSAGE * sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r = recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
    if (r <= 0) return 0;
    if (byte == 'A') {
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(cm);
            for (size_t i = 0; i < count; i++) take(fds[i]);
        }
        char ok = 'a';
        send(control, &ok, 1, 0);
    } else if (byte == 'R') {
        report(control);
    } else if (byte == 'C') {
        for (size_t fd = 0; fd < conns_cap; fd++)
            if (conns[fd]) close_conn(conns[fd]);
        char ok = 'c';
        send(control, &ok, 1, 0);
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <control descriptor>\n", argv[0]);
        return 2;
    }
    int control = atoi(argv[1]);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = control};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, control, &ev) < 0) die("epoll_ctl control");
    struct epoll_event events[EVENTS];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == control) {
                if (!on_control(control)) return 0;
            } else if ((size_t)fd < conns_cap && conns[fd]) {
                on_readable(conns[fd]);
            }
        }
    }
}
