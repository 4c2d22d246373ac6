/*
 * id.c: time-sortable 128-bit span ids in the UUIDv7 layout.
 *
 * Key idea: ids from one generator stay in creation order by bumping the
 * 60-bit time field (ms << 12 | 1/4096 ms) when the clock stands still or
 * steps back; the 62 random bits at the tail are never touched, so they stay
 * random (W3C Level 2 wants random right-most bytes). A pthread_atfork child
 * handler bumps a global epoch so a forked child reseeds instead of repeating
 * its parent's random stream (no getpid per id).
 */
#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

_Atomic uint64_t sl_fork_epoch;

static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void id_after_fork_child(void)
{
    atomic_fetch_add_explicit(&sl_fork_epoch, 1, memory_order_relaxed);
}

static void id_init_once(void)
{
    pthread_atfork(NULL, NULL, id_after_fork_child);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sl_idgen_reseed(sl_idgen *gen)
{
    uint64_t seed[4] = {0, 0, 0, 0};
    size_t got = 0;
    while (got < sizeof seed) {
        ssize_t n = getrandom((char *)seed + got, sizeof seed - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof seed) {
        /* no getrandom: mix whatever differs between processes and calls */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                     ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)gen;
        for (int i = 0; i < 4; i++) seed[i] ^= splitmix64(&x);
    }
    uint64_t x = seed[0] ^ seed[1] ^ seed[2] ^ seed[3];
    for (int i = 0; i < 4; i++) {
        gen->rng[i] = seed[i];
        if (!gen->rng[i]) gen->rng[i] = splitmix64(&x);
    }
    gen->fork_epoch = atomic_load_explicit(&sl_fork_epoch, memory_order_relaxed);
}

void sl_idgen_init(sl_idgen *gen, uint64_t seed)
{
    pthread_once(&id_once, id_init_once);
    gen->last_time60 = 0;
    if (seed) {
        uint64_t x = seed;
        for (int i = 0; i < 4; i++) gen->rng[i] = splitmix64(&x);
        gen->deterministic = 1;
        gen->fork_epoch = 0;
    } else {
        gen->deterministic = 0;
        sl_idgen_reseed(gen);
    }
}

void sl_idgen_next(sl_idgen *gen, uint64_t now_ns, sl_id *out)
{
    sl_idgen_next_fast(gen, now_ns, out);
}

int sl_id_is_zero(const sl_id *id)
{
    uint64_t a, b;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    return (a | b) == 0;
}
