#include "app/control.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <souk/log/log.hpp>
#include <souk/metrics/metrics.hpp>

namespace souk::app {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr std::size_t request_bytes_max = 256;
constexpr auto request_wait = std::chrono::seconds(5);  // for the request line to arrive

std::string error_answer(std::string_view message) {
    return boost::json::serialize(boost::json::object{{"error", message}});
}

}  // namespace

std::string control_socket_path(const config::settings& s) {
    return (std::filesystem::path(s.data_dir) / "souk.ctl").string();
}

asio::awaitable<std::vector<std::string>> check_live_state(
    const std::vector<std::unique_ptr<module>>& modules) {
    std::vector<std::string> problems;
    for (const auto& m : modules) {
        for (auto& p : co_await m->check_live())
            problems.push_back(std::string(m->name()) + ": " + p);
    }
    co_return problems;
}

asio::awaitable<void> check_live_state_every(asio::steady_timer& timer, std::chrono::seconds every,
                                             const std::vector<std::unique_ptr<module>>& modules,
                                             const std::atomic<bool>& ready) {
    static auto& problems_now =
        prometheus::BuildGauge()
            .Name("souk_live_state_problems")
            .Help(
                "Differences between what the server keeps in memory and its database, found "
                "by the last self-check (0: they agree)")
            .Register(metrics::registry())
            .Add({});
    for (;;) {
        timer.expires_after(every);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        if (!ready.load(std::memory_order_acquire)) continue;
        const auto problems = co_await check_live_state(modules);
        for (const auto& p : problems)
            log::error("memory and database disagree", {{"problem", p}});
        problems_now.Set(static_cast<double>(problems.size()));
    }
}

control_socket::control_socket(asio::io_context& io, std::string path,
                               const std::vector<std::unique_ptr<module>>& modules,
                               const std::atomic<bool>& ready)
    : io_(io), path_(std::move(path)), modules_(modules), ready_(ready), acceptor_(io) {}

control_socket::~control_socket() {
    stop();
}

void control_socket::start() {
    if (path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
        log::warn("no control socket: the data directory's path is too long", {{"path", path_}});
        return;
    }
    ::unlink(path_.c_str());
    boost::system::error_code ec;
    acceptor_.open(local(), ec);
    // Created as 0600 from the start: no moment in which others could connect.
    const mode_t before = ::umask(0177);
    if (!ec) acceptor_.bind(local::endpoint(path_), ec);
    ::umask(before);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        log::warn("no control socket", {{"path", path_}, {"error", ec.message()}});
        acceptor_.close(ec);
        return;
    }
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

void control_socket::stop() {
    if (!acceptor_.is_open()) return;
    boost::system::error_code ec;
    acceptor_.close(ec);
    ::unlink(path_.c_str());
}

asio::awaitable<void> control_socket::accept_loop() {
    for (;;) {
        auto [ec, s] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) continue;
        asio::co_spawn(io_, serve(std::move(s)), asio::detached);
    }
}

asio::awaitable<void> control_socket::serve(local::socket s) {
    std::string line;
    asio::steady_timer deadline(io_, request_wait);
    deadline.async_wait([&s](boost::system::error_code ec) {
        if (!ec) s.close(ec);
    });
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(line, request_bytes_max),
                                                   '\n', asio::as_tuple(asio::use_awaitable));
    deadline.cancel();
    if (ec) co_return;
    std::string reply = co_await answer(std::string_view(line).substr(0, n - 1)) + "\n";
    co_await asio::async_write(s, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<std::string> control_socket::answer(std::string_view request) {
    if (request != "check") co_return error_answer("unknown request; try: check");
    if (!ready_.load(std::memory_order_acquire)) co_return error_answer("the server is starting");
    boost::json::array problems;
    for (auto& p : co_await check_live_state(modules_))
        problems.emplace_back(std::move(p));
    co_return boost::json::serialize(boost::json::object{{"problems", std::move(problems)}});
}

std::optional<std::string> ask_control_socket(const std::string& path, std::string_view request,
                                              std::chrono::seconds timeout, std::string& error) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        error = "the path is too long for a Unix socket: " + path;
        return std::nullopt;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    const timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string out;
    const std::string line = std::string(request) + "\n";
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        error = path + ": " + std::strerror(errno);
        ::close(fd);
        return std::nullopt;
    }
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            if (out.back() == '\n') break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            error = errno == EAGAIN ? "no answer in time" : std::strerror(errno);
        else
            error = "the server closed the socket without an answer";
        ::close(fd);
        return std::nullopt;
    }
    ::close(fd);
    out.pop_back();
    return out;
}

}  // namespace souk::app
