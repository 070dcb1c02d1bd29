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

}  // namespace souk
