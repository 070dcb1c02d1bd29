#pragma once
// The running server's control socket, data_dir/souk.ctl: a Unix socket only the data
// directory's owner may open (0600), for the CLI on the same machine. One request line, one JSON
// answer line. "check" asks every module for the differences between what it keeps in memory
// and what it has stored (module::check_live): `souk check` uses it while a server runs.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <souk/kernel.hpp>
#include <string>
#include <vector>

namespace souk::app {

std::string control_socket_path(const config::settings& s);

// Every module's differences between memory and storage, each line prefixed with its module's
// name; empty when they agree.
boost::asio::awaitable<std::vector<std::string>> check_live_state(
    const std::vector<std::unique_ptr<module>>& modules);

// Runs check_live_state every `every` once `ready`, until `timer` is cancelled: each difference
// is logged as an error, and the gauge souk_live_state_problems counts the last round's.
boost::asio::awaitable<void> check_live_state_every(
    boost::asio::steady_timer& timer, std::chrono::seconds every,
    const std::vector<std::unique_ptr<module>>& modules, const std::atomic<bool>& ready);

class control_socket {
  public:
    // `ready`: the modules have loaded; until then "check" answers that the server is starting.
    control_socket(boost::asio::io_context& io, std::string path,
                   const std::vector<std::unique_ptr<module>>& modules,
                   const std::atomic<bool>& ready);
    ~control_socket();
    // Binds (replacing a file left by a server that died: the data directory's lock is ours)
    // and accepts. A path too long for a Unix socket, or a failed bind, is logged; the server
    // runs without one.
    void start();
    void stop();  // closes it and removes the file

  private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> serve(boost::asio::local::stream_protocol::socket s);
    boost::asio::awaitable<std::string> answer(std::string_view request);

    boost::asio::io_context& io_;
    std::string path_;
    const std::vector<std::unique_ptr<module>>& modules_;
    const std::atomic<bool>& ready_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
};

// The CLI's side: sends one request line, returns the answer line (without its newline), or
// nullopt with `error` set when no server answers within `timeout`.
std::optional<std::string> ask_control_socket(const std::string& path, std::string_view request,
                                              std::chrono::seconds timeout, std::string& error);

}  // namespace souk::app
