#pragma once
// Per-thread identity, for the few long-lived threads the server starts.
#include <string_view>

namespace souk {

// Names the calling thread as `top -H`, `perf` and gdb show it (Linux keeps 15 characters).
void name_this_thread(std::string_view name);

// Puts the calling thread, and the threads it starts from now on, under SCHED_BATCH: a thread
// it wakes then waits for it to block instead of preempting it (docs/decisions/0019). False,
// with errno set, when the kernel refuses.
bool schedule_as_batch_work();

}  // namespace souk
