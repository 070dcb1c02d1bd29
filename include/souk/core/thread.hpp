#pragma once
// Per-thread identity and priority, for the few long-lived threads the server starts.
#include <string_view>

namespace souk {

// Names the calling thread as `top -H`, `perf` and gdb show it (Linux keeps 15 characters).
void name_this_thread(std::string_view name);
// Sets the calling thread's nice value (Linux schedules threads one by one); false when the
// system refuses (a negative value needs CAP_SYS_NICE).
bool set_this_thread_nice(int nice);

}  // namespace souk
