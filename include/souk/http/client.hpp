#pragma once
// An outgoing HTTP/1.1 client for adapters that speak to peers over the network (the PSP and its
// simulator). One connection per request, HTTP or HTTPS, under one deadline; Beast stays inside
// the kernel's HTTP files.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <souk/core/result.hpp>
#include <souk/http/request.hpp>
#include <string>

namespace souk::http {

struct outgoing_request {
    http::method method = http::method::get;
    std::string url;  // http://host:port/path?query or https://...
    header_list headers = {};
    std::string body = {};
    std::string content_type = "application/json";
    std::chrono::milliseconds timeout{10'000};
};

struct incoming_response {
    int status = 0;
    header_list headers;
    std::string body;
    std::string_view header(std::string_view name) const;
};

struct client_options {
    bool verify_tls = true;  // off only for a peer on loopback with a self-signed certificate
    std::size_t body_limit = 1 << 20;
};

// Connection, TLS, timeout and protocol failures are 503 UNAVAILABLE errors; any HTTP status is
// a response (the caller decides what a 4xx means).
boost::asio::awaitable<result<incoming_response>> send(boost::asio::any_io_executor ex,
                                                       outgoing_request req,
                                                       client_options opts = {});

}  // namespace souk::http
