#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <souk/core/random.hpp>
#include <stdexcept>
#include <string>

namespace souk {

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        out[2 * i] = digits[b >> 4];
        out[2 * i + 1] = digits[b & 15];
    }
    return out;
}

std::string random_hex(std::size_t n) {
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return to_hex(bytes);
}

// 48 bits of milliseconds, then 80 random bits: still unguessable, but ids made close in time
// sort together, so inserts land on the right edge of each B-tree instead of a random page
// (at thousands of inserts per second that is the difference between a few pages written per
// commit and one page per row).
namespace {

// Ids take their random bits from a per-thread pool filled 512 bytes at a time: the same
// generator, but one RAND_bytes call (with its locking) per 51 ids instead of one each — it was
// ~3 % of the writer's CPU, which mints an event id per reservation. Secrets (random_hex) still
// come straight from RAND_bytes.
void random_id_bytes(unsigned char* out, std::size_t n) {
    static constexpr std::size_t pool_size = 512;
    thread_local unsigned char pool[pool_size];
    thread_local std::size_t used = pool_size;
    if (n > pool_size - used) {
        if (RAND_bytes(pool, static_cast<int>(pool_size)) != 1)
            throw std::runtime_error("RAND_bytes failed");
        used = 0;
    }
    std::copy_n(pool + used, n, out);
    std::fill_n(pool + used, n, 0);  // handed out once
    used += n;
}

std::string time_prefixed(std::string_view prefix, std::uint64_t ms) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string id(prefix);
    id += '_';
    for (int shift = 44; shift >= 0; shift -= 4)
        id += digits[(ms >> shift) & 15];
    return id;
}

}  // namespace

std::string new_id(std::string_view prefix) {
    const auto ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    std::string id = time_prefixed(prefix, ms);
    unsigned char bytes[10];
    random_id_bytes(bytes, sizeof bytes);
    id += to_hex(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
    return id;
}

std::string id_floor(std::string_view prefix, std::int64_t unix_ms) {
    return time_prefixed(prefix, static_cast<std::uint64_t>(std::max<std::int64_t>(0, unix_ms)));
}

}  // namespace souk
