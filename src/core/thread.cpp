#include <pthread.h>

#include <souk/core/thread.hpp>
#include <string>

namespace souk {

void name_this_thread(std::string_view name) {
    const std::string n(name.substr(0, 15));
    pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace souk
