#pragma once
// The HTTP(S) front door on Boost.Beast: listeners, connections, limits, graceful drain.
// The only kernel part (with tls.cpp) that compiles Beast.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/dispatch.hpp"

namespace souk::http {

struct server_options {
    std::string host = "127.0.0.1";
    int http_port = 8080;   // 0: ephemeral
    int https_port = 8443;  // 0: ephemeral; <0: no HTTPS listener
    int max_connections = 10000;
    std::size_t header_limit_bytes = 16 * 1024;
    std::size_t body_limit_bytes = 1 << 20;
    std::chrono::milliseconds read_timeout{10000};
    std::chrono::milliseconds idle_timeout{60000};
};

class server {
  public:
    // ios: one io_context per thread; connections are spread over them round robin.
    // plain: the dispatcher for the HTTP listener (serving, or redirecting to HTTPS).
    server(std::vector<boost::asio::io_context*> ios, server_options opts, dispatcher& secure,
           dispatcher& plain, std::shared_ptr<boost::asio::ssl::context> tls);
    ~server();

    // Binds and starts accepting; throws on a bind failure.
    void start();
    std::uint16_t http_port() const { return http_port_; }
    std::uint16_t https_port() const { return https_port_; }

    // Stops accepting and closes idle connections; in-flight requests finish and close.
    void drain();
    int connections() const { return active_.load(); }

    struct impl;

  private:
    std::unique_ptr<impl> impl_;
    std::uint16_t http_port_ = 0;
    std::uint16_t https_port_ = 0;
    std::atomic<int> active_{0};
};

// Loads cert/key files, or makes a self-signed pair in data_dir on first start.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file,
                                                            const std::string& key_file,
                                                            const std::string& data_dir);

}  // namespace souk::http
