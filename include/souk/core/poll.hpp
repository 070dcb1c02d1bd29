#pragma once
// Waiting for a condition that no one signals: checked now and then on the calling coroutine's
// executor, so the io thread keeps serving meanwhile (graceful stops drain this way).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>

namespace souk {

// Returns once `done()` holds, or after about `max` (checked every `every`).
boost::asio::awaitable<void> poll_until(std::function<bool()> done, std::chrono::milliseconds every,
                                        std::chrono::milliseconds max);

}  // namespace souk
