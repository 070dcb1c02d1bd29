#pragma once
// Per-thread identity, for the few long-lived threads the server starts.
#include <string_view>

namespace souk {

// Names the calling thread as `top -H`, `perf` and gdb show it (Linux keeps 15 characters).
void name_this_thread(std::string_view name);

}  // namespace souk
