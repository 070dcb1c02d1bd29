#pragma once
// Invariants are checked in every build, release included: a broken invariant is a bug, and
// limping on would turn it into lost money or oversold seats. Crash loudly instead.
#include <cstdio>
#include <cstdlib>

#define SOUK_ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) [[unlikely]] {                                                         \
            std::fprintf(stderr, "souk: invariant violated: %s (%s:%d)\n", #cond, __FILE__, \
                         __LINE__);                                                         \
            std::abort();                                                                   \
        }                                                                                   \
    } while (0)
