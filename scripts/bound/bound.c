/*
 * bound: the plain program ipcbench's `limit` transport is checked against.
 *
 * Two threads pinned to two CPUs share a memfd mapping, as ipcbench's two
 * processes do, and run ipcbench's two protocols with nothing else on the path:
 *
 *   latency SIZE  ping-pong of SIZE-byte messages. Each direction has one
 *                 fixed mailbox: a 64-byte line holding a sequence number
 *                 (and the payload when it fits in 56 bytes), the payload in
 *                 the lines right after it otherwise. The sender copies the
 *                 payload in and stores the sequence number (release); the
 *                 receiver spins on it (acquire), copies the payload out and
 *                 reads one byte of every line, as ipcbench's ping does.
 *                 Prints the one-way p50 (round-trip p50 / 2).
 *   stream SIZE   one-way stream of SIZE-byte messages through a byte ring
 *                 (head and tail on their own lines, capacity as ipcbench's
 *                 ring_capacity: room for two messages, at least 1 MiB). The
 *                 consumer copies each message out and reads one byte of every
 *                 line. Prints bytes and messages per second.
 *
 * Options (after SIZE): --ms N (measured time, default 200), --warmup-ms N
 * (default 10), --cpus A,B (default 0,1), --copy-in memcpy|movsb|nt,
 * --copy-out memcpy|movsb, --chunk BYTES (stream: publish/release at most
 * this many bytes at a time; 0 = a whole contiguous piece), --lag N
 * (stream: a producer out of room waits until 1/N of the ring is free),
 * --prefetch BYTES (stream: the consumer prefetches the line this far
 * ahead of its position before each copy), --header BYTES
 * (stream: a header of up to 64 bytes before each message, as a framed ring
 * has, which also shifts the payload's alignment), --slots
 * fixed|moving (latency: one fixed mailbox per direction, or ring-sized
 * slots that advance per message).
 *
 * Build: cc -O2 -pthread -o bound bound.c   (scripts/bound-check.sh does it)
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum copy_kind { COPY_MEMCPY, COPY_MOVSB, COPY_NT };

static struct {
    int latency;
    size_t size;
    long ms, warmup_ms;
    int cpu[2];
    enum copy_kind copy_in, copy_out;
    size_t chunk, lag, header, prefetch;
    int moving_slots;
} opt = {0, 0, 200, 10, {0, 1}, COPY_MEMCPY, COPY_MEMCPY, 0, 0, 0, 0, 0};

static uint8_t *shm;
static atomic_int stop_flag;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        fprintf(stderr, "bound: cannot pin to CPU %d\n", cpu);
        exit(2);
    }
}

static void copy_movsb(void *d, const void *s, size_t n)
{
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

/* Non-temporal stores for whole 32-byte blocks of an aligned destination;
 * the caller fences (sfence) before publishing. */
__attribute__((target("avx2"))) static void copy_nt(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    size_t head = (32 - ((uintptr_t)d & 31)) & 31;
    if (head > n)
        head = n;
    memcpy(d, s, head);
    d += head, s += head, n -= head;
    for (; n >= 128; d += 128, s += 128, n -= 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)s);
        __m256i b = _mm256_loadu_si256((const __m256i *)(s + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(s + 64));
        __m256i e = _mm256_loadu_si256((const __m256i *)(s + 96));
        _mm256_stream_si256((__m256i *)d, a);
        _mm256_stream_si256((__m256i *)(d + 32), b);
        _mm256_stream_si256((__m256i *)(d + 64), c);
        _mm256_stream_si256((__m256i *)(d + 96), e);
    }
    memcpy(d, s, n);
}

static void copy(enum copy_kind k, void *d, const void *s, size_t n)
{
    switch (k) {
    case COPY_MOVSB: copy_movsb(d, s, n); break;
    case COPY_NT: copy_nt(d, s, n); _mm_sfence(); break;
    default: memcpy(d, s, n);
    }
}

/* Read one byte of every line, as ipcbench's digest does. */
static uint64_t digest(const uint8_t *m, size_t len)
{
    uint64_t acc = len;
    for (size_t i = 0; i < len; i += 64)
        acc = acc * 31 + m[i];
    return acc * 31 + m[len - 1];
}

static size_t ring_capacity(size_t size)
{
    size_t want = 2 * (size + 16), cap = 1;
    while (cap < want)
        cap <<= 1;
    if (cap < (1u << 20))
        cap = 1u << 20;
    if (cap > (64u << 20))
        cap = 64u << 20;
    return cap;
}

/* ---- latency: one mailbox per direction ---- */

static size_t slot_stride(void) { return 64 + (opt.size > 56 ? (opt.size + 63) / 64 * 64 : 0); }
static size_t slots_per_ring(void)
{
    size_t n = opt.moving_slots ? ring_capacity(opt.size) / slot_stride() : 1;
    return n ? n : 1;
}

struct mailbox {
    uint8_t *ring;      /* this direction's slots */
    uint64_t n;         /* messages so far */
    size_t next, slots; /* the next message's slot, and how many there are */
    size_t stride;
};

static struct mailbox mailbox_at(uint8_t *ring)
{
    return (struct mailbox){ring, 0, 0, slots_per_ring(), slot_stride()};
}

static uint8_t *slot_of(struct mailbox *m, uint64_t seq)
{
    (void)seq;
    uint8_t *slot = m->ring + m->next * m->stride;
    if (++m->next == m->slots)
        m->next = 0;
    return slot;
}

static uint8_t *payload_of(uint8_t *slot) { return opt.size <= 56 ? slot + 8 : slot + 64; }

static void mb_send(struct mailbox *m, const uint8_t *msg)
{
    uint64_t seq = ++m->n;
    uint8_t *slot = slot_of(m, seq);
    copy(opt.copy_in, payload_of(slot), msg, opt.size);
    atomic_store_explicit((_Atomic uint64_t *)slot, seq, memory_order_release);
}

static int mb_recv(struct mailbox *m, uint8_t *buf)
{
    uint64_t seq = ++m->n;
    uint8_t *slot = slot_of(m, seq);
    unsigned spins = 0;
    while (atomic_load_explicit((_Atomic uint64_t *)slot, memory_order_acquire) != seq) {
        _mm_pause();
        if (++spins % 1024 == 0 && atomic_load_explicit(&stop_flag, memory_order_relaxed))
            return -1;
    }
    copy(opt.copy_out, buf, payload_of(slot), opt.size);
    return 0;
}

static size_t mailbox_ring_len(void) { return slots_per_ring() * slot_stride(); }

static void *echo_thread(void *arg)
{
    (void)arg;
    pin(opt.cpu[1]);
    struct mailbox in = mailbox_at(shm), out = mailbox_at(shm + mailbox_ring_len());
    uint8_t *buf = malloc(opt.size), *tx = malloc(opt.size);
    while (mb_recv(&in, buf) == 0) {
        memcpy(tx, buf, opt.size);
        mb_send(&out, tx);
    }
    free(buf);
    free(tx);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_latency(void)
{
    pthread_t echo;
    pthread_create(&echo, NULL, echo_thread, NULL);
    pin(opt.cpu[0]);
    struct mailbox out = mailbox_at(shm), in = mailbox_at(shm + mailbox_ring_len());
    uint8_t *tx = malloc(opt.size), *buf = malloc(opt.size);
    for (size_t i = 0; i < opt.size; i++)
        tx[i] = (uint8_t)(i * 31 + 7);
    size_t cap = 1 << 20, n = 0;
    uint64_t *rtt = malloc(cap * sizeof *rtt), sink = 0;
    uint64_t warm_end = now_ns() + opt.warmup_ms * 1000000, end;
    while (now_ns() < warm_end) {
        mb_send(&out, tx);
        mb_recv(&in, buf);
    }
    end = now_ns() + opt.ms * 1000000;
    uint64_t t0 = now_ns();
    while (t0 < end) {
        tx[0] = 0, tx[opt.size - 1] = (uint8_t)out.n;
        mb_send(&out, tx);
        mb_recv(&in, buf);
        sink += digest(buf, opt.size);
        uint64_t t1 = now_ns();
        if (n == cap)
            rtt = realloc(rtt, (cap *= 2) * sizeof *rtt);
        rtt[n++] = t1 - t0;
        t0 = t1;
    }
    atomic_store(&stop_flag, 1);
    pthread_join(echo, NULL);
    qsort(rtt, n, sizeof *rtt, cmp_u64);
    printf("latency size=%zu samples=%zu one_way_p50_ns=%.1f rtt_p50_ns=%llu sink=%llu\n", opt.size,
           n, rtt[n / 2] / 2.0, (unsigned long long)rtt[n / 2], (unsigned long long)(sink & 1));
}

/* ---- stream: a byte ring ---- */

#define HEAD 0
#define TAIL 64
#define DATA 128

static size_t ring_cap;
static _Atomic uint64_t *head_word(void) { return (_Atomic uint64_t *)(shm + HEAD); }
static _Atomic uint64_t *tail_word(void) { return (_Atomic uint64_t *)(shm + TAIL); }

static size_t piece(size_t avail, size_t left, uint64_t pos)
{
    size_t n = avail < left ? avail : left;
    size_t to_end = ring_cap - (pos & (ring_cap - 1));
    if (n > to_end)
        n = to_end;
    if (opt.chunk && n > opt.chunk)
        n = opt.chunk;
    return n;
}

/* Each side's position and its cached copy of the other's, on lines of
 * their own (a shared line would cost a transfer per message). */
static struct { _Alignas(128) uint64_t head, cached_tail; } prod;
static struct { _Alignas(128) uint64_t tail, cached_head; } cons;
#define head prod.head
#define cached_tail prod.cached_tail
#define tail cons.tail
#define cached_head cons.cached_head

/* Copy `len` bytes into the ring, publishing `head` after every piece. */
static void ring_write(const uint8_t *src, size_t len)
{
    uint8_t *data = shm + DATA;
    for (size_t done = 0; done < len;) {
        size_t free_bytes = ring_cap - (head - cached_tail);
        if (free_bytes == 0) {
            /* Out of room: wait for 1/--lag of the ring (default: a byte). */
            size_t want = opt.lag ? ring_cap / opt.lag : 1;
            for (;;) {
                cached_tail = atomic_load_explicit(tail_word(), memory_order_acquire);
                free_bytes = ring_cap - (head - cached_tail);
                if (free_bytes >= want)
                    break;
                _mm_pause();
            }
        }
        size_t n = piece(free_bytes, len - done, head);
        copy(opt.copy_in, data + (head & (ring_cap - 1)), src + done, n);
        head += n;
        done += n;
        atomic_store_explicit(head_word(), head, memory_order_release);
    }
}

/* Copy `len` bytes out of the ring, publishing `tail` after every piece;
 * -1 once stopped. */
static int ring_read(uint8_t *dst, size_t len)
{
    uint8_t *data = shm + DATA;
    for (size_t done = 0; done < len;) {
        if (cached_head == tail) {
            unsigned spins = 0;
            while ((cached_head = atomic_load_explicit(head_word(), memory_order_acquire)) == tail) {
                _mm_pause();
                if (++spins % 1024 == 0 && atomic_load_explicit(&stop_flag, memory_order_relaxed))
                    return -1;
            }
        }
        size_t n = piece(cached_head - tail, len - done, tail);
        if (opt.prefetch)
            _mm_prefetch((const char *)data + ((tail + opt.prefetch) & (ring_cap - 1)), _MM_HINT_T0);
        copy(opt.copy_out, dst + done, data + (tail & (ring_cap - 1)), n);
        tail += n;
        done += n;
        atomic_store_explicit(tail_word(), tail, memory_order_release);
    }
    return 0;
}

static void *sink_thread(void *arg)
{
    (void)arg;
    pin(opt.cpu[1]);
    uint8_t *buf = malloc(opt.size), header[64];
    uint64_t sum = 0;
    while ((!opt.header || ring_read(header, opt.header) == 0) && ring_read(buf, opt.size) == 0)
        sum += digest(buf, opt.size);
    free(buf);
    return (void *)(uintptr_t)(sum & 1);
}

static void run_stream(void)
{
    ring_cap = ring_capacity(opt.size);
    pthread_t sink;
    pthread_create(&sink, NULL, sink_thread, NULL);
    pin(opt.cpu[0]);
    uint8_t *tx = malloc(opt.size), header[64] = {0};
    for (size_t i = 0; i < opt.size; i++)
        tx[i] = (uint8_t)(i * 31 + 7);
    uint64_t sent = 0, first = 0, t0 = 0;
    uint64_t warm_end = now_ns() + opt.warmup_ms * 1000000, end = 0;
    int measuring = 0;
    for (;;) {
        if ((sent & 63) == 0) {
            uint64_t t = now_ns();
            if (!measuring && t >= warm_end)
                measuring = 1, t0 = t, end = t + opt.ms * 1000000, first = sent;
            else if (measuring && t >= end)
                break;
        }
        tx[0] = 0, tx[opt.size - 1] = (uint8_t)sent;
        if (opt.header)
            ring_write(header, opt.header);
        ring_write(tx, opt.size);
        sent++;
    }
    /* Wait until the consumer has taken everything sent, as ipcbench's
     * clock runs until the receiver acknowledged the last message. */
    while (atomic_load_explicit(tail_word(), memory_order_acquire) != head)
        _mm_pause();
    double secs = (now_ns() - t0) / 1e9;
    uint64_t msgs = sent - first;
    atomic_store(&stop_flag, 1);
    pthread_join(sink, NULL);
    printf("stream size=%zu messages=%llu msgs_per_sec=%.0f bytes_per_sec=%.0f\n", opt.size,
           (unsigned long long)msgs, msgs / secs, msgs * (double)opt.size / secs);
}

static enum copy_kind parse_copy(const char *s)
{
    if (!strcmp(s, "memcpy"))
        return COPY_MEMCPY;
    if (!strcmp(s, "movsb"))
        return COPY_MOVSB;
    if (!strcmp(s, "nt"))
        return COPY_NT;
    fprintf(stderr, "bound: copy routine '%s': expected memcpy, movsb or nt\n", s);
    exit(2);
}

static size_t parse_size(const char *s)
{
    char *end;
    size_t v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (*end || v == 0 || v > (32u << 20)) {
        fprintf(stderr, "bound: size '%s': expected 1 to 32M bytes (suffix K or M)\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "latency") && strcmp(argv[1], "stream"))) {
        fprintf(stderr, "usage: bound latency|stream SIZE [--ms N] [--warmup-ms N] [--cpus A,B]\n"
                        "       [--copy-in memcpy|movsb|nt] [--copy-out memcpy|movsb]\n"
                        "       [--chunk BYTES] [--lag N] [--prefetch BYTES] [--header BYTES] [--slots fixed|moving]\n");
        return 2;
    }
    opt.latency = !strcmp(argv[1], "latency");
    opt.size = parse_size(argv[2]);
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--ms"))
            opt.ms = atol(v);
        else if (!strcmp(k, "--warmup-ms"))
            opt.warmup_ms = atol(v);
        else if (!strcmp(k, "--cpus"))
            sscanf(v, "%d,%d", &opt.cpu[0], &opt.cpu[1]);
        else if (!strcmp(k, "--copy-in"))
            opt.copy_in = parse_copy(v);
        else if (!strcmp(k, "--copy-out"))
            opt.copy_out = parse_copy(v);
        else if (!strcmp(k, "--chunk"))
            opt.chunk = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--header") && atol(v) >= 0 && atol(v) <= 64)
            opt.header = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--prefetch"))
            opt.prefetch = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--lag"))
            opt.lag = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--slots"))
            opt.moving_slots = !strcmp(v, "moving");
        else {
            fprintf(stderr, "bound: unknown option '%s'\n", k);
            return 2;
        }
    }
    if (opt.copy_out == COPY_NT) {
        fprintf(stderr, "bound: --copy-out nt: non-temporal stores are for the ring side only\n");
        return 2;
    }
    size_t len = opt.latency ? 2 * mailbox_ring_len() : DATA + ring_capacity(opt.size);
    int fd = memfd_create("bound", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0) {
        perror("bound: memfd");
        return 1;
    }
    shm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (shm == MAP_FAILED) {
        perror("bound: mmap");
        return 1;
    }
    if (opt.latency)
        run_latency();
    else
        run_stream();
    return 0;
}
