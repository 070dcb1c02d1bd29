#include <pthread.h>
#include <sched.h>

#include <souk/core/thread.hpp>
#include <string>

namespace souk {

void name_this_thread(std::string_view name) {
    const std::string n(name.substr(0, 15));
    pthread_setname_np(pthread_self(), n.c_str());
}

bool schedule_as_batch_work() {
    const sched_param priority{.sched_priority = 0};            // the only one SCHED_BATCH has
    return sched_setscheduler(0, SCHED_BATCH, &priority) == 0;  // 0: the calling thread
}

}  // namespace souk
