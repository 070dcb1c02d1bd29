#pragma once
// A hash map keyed by std::string that is also searched by std::string_view, so that a lookup
// on a hot path (SQL text, a token, a hold id, a bucket key) builds no string.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace souk {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

// The same hash, for maps of millions of entries that keep growing (a shard's live holds).
// libstdc++ keeps each node's hash code only when the hasher may throw; otherwise a growing
// table hashes every key again, reading each key's characters — a cache miss per entry for a
// key on the heap, most of a reservation's time in the shard in a long rush. Not declared
// noexcept, so that the codes are kept (and compared before the keys, too).
struct kept_string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class V>
using big_string_map = std::unordered_map<std::string, V, kept_string_hash, std::equal_to<>>;

#if defined(__GLIBCXX__)
static_assert(std::__cache_default<std::string, kept_string_hash>::value,
              "big_string_map's nodes must keep their hash codes");
#endif

}  // namespace souk
