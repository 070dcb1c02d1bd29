#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <souk/core/thread.hpp>
#include <string>

namespace souk {

void name_this_thread(std::string_view name) {
    const std::string n(name.substr(0, 15));
    pthread_setname_np(pthread_self(), n.c_str());
}

bool set_this_thread_nice(int nice) {
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    return setpriority(PRIO_PROCESS, tid, nice) == 0;
}

}  // namespace souk
