#pragma once
#include <string_view>

namespace souk {

// Whether pred holds for any byte of s. Every byte is looked at, without an early exit, so that
// the compiler vectorizes the loop: it runs over every request's head and every JSON string an
// answer writes by hand.
template <class Pred>
bool any_byte(std::string_view s, Pred pred) {
    bool any = false;
    for (const char ch : s)
        any |= pred(static_cast<unsigned char>(ch));
    return any;
}

}  // namespace souk
