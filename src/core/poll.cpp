#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <souk/core/poll.hpp>

namespace souk {

boost::asio::awaitable<void> poll_until(std::function<bool()> done, std::chrono::milliseconds every,
                                        std::chrono::milliseconds max) {
    auto ex = co_await boost::asio::this_coro::executor;
    for (auto waited = std::chrono::milliseconds(0); waited < max && !done(); waited += every) {
        boost::asio::steady_timer t(ex, every);
        co_await t.async_wait(boost::asio::use_awaitable);
    }
}

}  // namespace souk
