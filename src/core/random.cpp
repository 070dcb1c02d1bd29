#include <openssl/rand.h>

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

std::string new_id(std::string_view prefix) {
    std::string id(prefix);
    id += '_';
    id += random_hex(16);
    return id;
}

}  // namespace souk
