// Beast lives here and in tls.cpp only; everything past this file sees souk::http types.
#include "http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <souk/log/log.hpp>

namespace souk::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

// Per-connection state shared with the drain logic; touched only on the connection's thread.
struct connection_state {
    bool idle = false;     // waiting for the first byte of a request
    bool reading = false;  // in the TLS handshake or waiting for the rest of a request's head
    bool alive = true;
    tcp::socket* socket = nullptr;
};

bool is_disconnect(const boost::system::error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::operation_aborted || ec == beast::error::timeout ||
           ec == asio::ssl::error::stream_truncated || ec == asio::error::not_connected ||
           ec == asio::error::bad_descriptor;
}

// Translates Beast's parsed message into the kernel's request; false if the target is unusable.
bool to_request(bhttp::request<bhttp::string_body>& msg, request& req) {
    req.method_name = std::string(msg.method_string());
    req.method = method_from_string(req.method_name);
    req.target = std::string(msg.target());
    auto url = boost::urls::parse_origin_form(req.target);
    if (!url) return false;
    req.path = url->path();
    if (req.path.empty()) req.path = "/";
    req.query = std::string(url->encoded_query());
    req.headers.reserve(16);
    for (const auto& f : msg)
        req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    return true;
}

template <class Stream>
asio::awaitable<bool> send(Stream& stream, response& res, unsigned version, bool keep_alive,
                           bool head, std::chrono::milliseconds timeout) {
    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), version};
    const bool bodiless = res.status == 204 || res.status == 304 || res.status < 200;
    if (!bodiless && !res.content_type.empty())
        out.set(bhttp::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers)
        out.insert(k, v);
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (head) out.body().clear();  // Content-Length stays that of the GET
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [ec, n] = co_await bhttp::async_write(stream, out, nothrow);
    co_return !ec;
}

}  // namespace

struct server::impl {
    std::vector<asio::io_context*> ios;
    server_options opts;
    dispatcher& secure;
    dispatcher& plain;
    std::shared_ptr<asio::ssl::context> tls;
    std::atomic<int>& active;
    std::unique_ptr<tcp::acceptor> http_acceptor;
    std::unique_ptr<tcp::acceptor> https_acceptor;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> draining{false};
    std::mutex mu;
    std::unordered_map<std::uint64_t,
                       std::pair<asio::any_io_executor, std::shared_ptr<connection_state>>>
        connections;
    std::uint64_t next_id = 0;

    impl(std::vector<asio::io_context*> i, server_options o, dispatcher& s, dispatcher& p,
         std::shared_ptr<asio::ssl::context> t, std::atomic<int>& a)
        : ios(std::move(i)),
          opts(std::move(o)),
          secure(s),
          plain(p),
          tls(std::move(t)),
          active(a) {}

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream, bool is_tls, connection_state& st) {
        dispatcher& d = is_tls ? secure : plain;
        auto& sock = beast::get_lowest_layer(stream);
        boost::system::error_code ep_ec;
        const auto ep = sock.socket().remote_endpoint(ep_ec);
        const std::string remote = ep_ec ? std::string() : ep.address().to_string();
        beast::flat_buffer buffer;
        for (;;) {
            if (buffer.size() == 0) {
                // Idle between requests: wait for the first byte under the idle timeout.
                if (draining) co_return;
                st.idle = true;
                sock.expires_after(opts.idle_timeout);
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(8192), nothrow);
                st.idle = false;
                if (ec) co_return;
                buffer.commit(n);
            }
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(opts.header_limit_bytes));
            parser.body_limit(opts.body_limit_bytes);
            sock.expires_after(opts.read_timeout);
            // The head first: until it is in, a shutdown may cut the connection (drain()).
            st.reading = true;
            auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, nothrow);
            st.reading = false;
            if (!ec && !parser.is_done()) {
                auto [body_ec, body_n] =
                    co_await bhttp::async_read(stream, buffer, parser, nothrow);
                ec = body_ec;
            }
            request req;
            req.secure = is_tls;
            req.remote_address = remote;
            if (ec) {
                if (is_disconnect(ec) && ec != bhttp::error::end_of_stream) co_return;
                if (ec == bhttp::error::end_of_stream) co_return;
                error e = ec == bhttp::error::body_limit ? error::payload_too_large()
                          : ec == bhttp::error::header_limit
                              ? error{431, "BAD_REQUEST", "request headers too large"}
                              : error::bad_request("malformed HTTP request");
                response res = d.refuse(e, req);
                co_await send(stream, res, 11, false, false, opts.read_timeout);
                co_return;
            }
            auto& msg = parser.get();
            // Request smuggling guard: never guess which length framing the sender meant.
            if (msg.count(bhttp::field::content_length) &&
                msg.count(bhttp::field::transfer_encoding)) {
                response res = d.refuse(
                    error::bad_request("Content-Length and Transfer-Encoding together"), req);
                co_await send(stream, res, msg.version(), false, false, opts.read_timeout);
                co_return;
            }
            // A request whose Transfer-Encoding does not end in chunked has no knowable length
            // (RFC 9112 6.3): refuse it and close rather than read what follows as a request.
            if (msg.count(bhttp::field::transfer_encoding) && !msg.chunked()) {
                response res =
                    d.refuse(error::bad_request("Transfer-Encoding must end with chunked"), req);
                co_await send(stream, res, msg.version(), false, false, opts.read_timeout);
                co_return;
            }
            const unsigned version = msg.version();
            const bool keep_alive_asked = msg.keep_alive();
            if (!to_request(msg, req)) {
                response res = d.refuse(error::bad_request("malformed request target"), req);
                co_await send(stream, res, version, false, false, opts.read_timeout);
                co_return;
            }
            const bool head = req.method == method::head;
            response res = co_await d.handle(req);
            const bool keep = keep_alive_asked && !res.close && !draining;
            if (!co_await send(stream, res, version, keep, head, opts.read_timeout)) co_return;
            if (!keep) co_return;
        }
    }

    asio::awaitable<void> run_connection(tcp::socket socket, bool is_tls) {
        socket.set_option(tcp::no_delay(true));
        auto st = std::make_shared<connection_state>();
        const auto ex = socket.get_executor();
        std::uint64_t id;
        {
            std::lock_guard lock(mu);
            id = next_id++;
            connections.emplace(id, std::make_pair(ex, st));
        }
        try {
            if (is_tls) {
                beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)),
                                                            *tls);
                st->socket = &beast::get_lowest_layer(stream).socket();
                beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
                st->reading = true;
                auto [ec] =
                    co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
                st->reading = false;
                if (!ec) {
                    co_await serve(stream, true, *st);
                    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
                    co_await stream.async_shutdown(nothrow);
                }
            } else {
                beast::tcp_stream stream(std::move(socket));
                st->socket = &stream.socket();
                co_await serve(stream, false, *st);
                boost::system::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            }
        } catch (const std::exception& e) {
            log::error("connection failed", {{"what", e.what()}});
        }
        st->alive = false;
        st->socket = nullptr;
        {
            std::lock_guard lock(mu);
            connections.erase(id);
        }
        --active;
    }

    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool is_tls) {
        for (;;) {
            auto& io = *ios[next++ % ios.size()];
            auto [ec, socket] = co_await acceptor.async_accept(io, nothrow);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                // Out of descriptors or similar: breathe instead of spinning.
                asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(20));
                co_await pause.async_wait(nothrow);
                continue;
            }
            if (draining || active.load() >= opts.max_connections) {
                boost::system::error_code ignored;
                socket.close(ignored);
                continue;
            }
            ++active;
            asio::co_spawn(io, run_connection(std::move(socket), is_tls), asio::detached);
        }
    }

    std::unique_ptr<tcp::acceptor> listen(int port) {
        auto acc = std::make_unique<tcp::acceptor>(*ios.front());
        tcp::endpoint ep(asio::ip::make_address(opts.host), static_cast<std::uint16_t>(port));
        acc->open(ep.protocol());
        acc->set_option(asio::socket_base::reuse_address(true));
        acc->bind(ep);
        acc->listen(asio::socket_base::max_listen_connections);
        return acc;
    }
};

server::server(std::vector<asio::io_context*> ios, server_options opts, dispatcher& secure,
               dispatcher& plain, std::shared_ptr<asio::ssl::context> tls)
    : impl_(std::make_unique<impl>(std::move(ios), std::move(opts), secure, plain, std::move(tls),
                                   active_)) {}

server::~server() = default;

void server::start() {
    auto& s = *impl_;
    s.http_acceptor = s.listen(s.opts.http_port);
    http_port_ = s.http_acceptor->local_endpoint().port();
    asio::co_spawn(*s.ios.front(), s.accept_loop(*s.http_acceptor, false), asio::detached);
    if (s.tls && s.opts.https_port >= 0) {
        s.https_acceptor = s.listen(s.opts.https_port);
        https_port_ = s.https_acceptor->local_endpoint().port();
        asio::co_spawn(*s.ios.front(), s.accept_loop(*s.https_acceptor, true), asio::detached);
    }
}

void server::drain() {
    auto& s = *impl_;
    s.draining = true;
    asio::post(*s.ios.front(), [&s] {
        boost::system::error_code ignored;
        if (s.http_acceptor) s.http_acceptor->close(ignored);
        if (s.https_acceptor) s.https_acceptor->close(ignored);
    });
    std::lock_guard lock(s.mu);
    for (auto& [id, entry] : s.connections) {
        // Idle connections, and ones whose request head has not fully arrived (a slow client
        // must not hold the shutdown for a whole read timeout), are cut; requests finish.
        asio::post(entry.first, [st = entry.second] {
            if (st->alive && (st->idle || st->reading) && st->socket) {
                boost::system::error_code ignored;
                st->socket->cancel(ignored);
            }
        });
    }
}

}  // namespace souk::http
