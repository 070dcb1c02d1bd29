// The outgoing HTTP client: resolve, connect, (TLS), write, read, close — every step under the
// request's one deadline.
#include <strings.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <souk/http/client.hpp>

namespace souk::http {

std::string_view incoming_response::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0)
            return v;
    return {};
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

error unreachable(std::string_view url, std::string_view what) {
    return error::unavailable("peer " + std::string(url) + ": " + std::string(what));
}

bhttp::verb verb_of(method m) {
    switch (m) {
        case method::get:
            return bhttp::verb::get;
        case method::head:
            return bhttp::verb::head;
        case method::post:
            return bhttp::verb::post;
        case method::put:
            return bhttp::verb::put;
        case method::patch:
            return bhttp::verb::patch;
        case method::del:
            return bhttp::verb::delete_;
        default:
            return bhttp::verb::get;
    }
}

// Made once: loading the system's trust store per request would cost more than the request.
asio::ssl::context& tls_context(bool verify) {
    static asio::ssl::context verifying = [] {
        asio::ssl::context c(asio::ssl::context::tls_client);
        c.set_default_verify_paths();
        c.set_verify_mode(asio::ssl::verify_peer);
        return c;
    }();
    static asio::ssl::context trusting = [] {
        asio::ssl::context c(asio::ssl::context::tls_client);
        c.set_verify_mode(asio::ssl::verify_none);
        return c;
    }();
    return verify ? verifying : trusting;
}

struct target {
    bool tls = false;
    std::string host, port, path;
};

result<target> parse_url(std::string_view url) {
    auto u = boost::urls::parse_absolute_uri(url);
    if (!u) return error::bad_request("not an absolute URL: " + std::string(url));
    target t;
    if (u->scheme() == "https") {
        t.tls = true;
    } else if (u->scheme() != "http") {
        return error::bad_request("unsupported scheme in " + std::string(url));
    }
    t.host = std::string(u->host());
    t.port = u->has_port() ? std::string(u->port()) : (t.tls ? "443" : "80");
    t.path = std::string(u->encoded_target());
    if (t.path.empty()) t.path = "/";
    return t;
}

bhttp::request<bhttp::string_body> build(const outgoing_request& r, const target& t) {
    bhttp::request<bhttp::string_body> m{verb_of(r.method), t.path, 11};
    m.set(bhttp::field::host, t.host + ":" + t.port);
    m.set(bhttp::field::user_agent, "souk");
    m.set(bhttp::field::connection, "close");
    for (const auto& [k, v] : r.headers)
        m.set(k, v);
    if (!r.body.empty() || r.method == method::post || r.method == method::put) {
        m.set(bhttp::field::content_type, r.content_type);
        m.body() = r.body;
        m.prepare_payload();
    }
    return m;
}

template <class Stream>
asio::awaitable<result<incoming_response>> exchange(Stream& s, const outgoing_request& r,
                                                    const target& t, const client_options& o) {
    auto msg = build(r, t);
    auto [we, wn] = co_await bhttp::async_write(s, msg, nothrow);
    if (we) co_return unreachable(r.url, "write: " + we.message());
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(o.body_limit);
    auto [re, rn] = co_await bhttp::async_read(s, buf, parser, nothrow);
    if (re) co_return unreachable(r.url, "read: " + re.message());
    auto& res = parser.get();
    incoming_response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res)
        out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    co_return out;
}

}  // namespace

asio::awaitable<result<incoming_response>> send(asio::any_io_executor ex, outgoing_request req,
                                                client_options opts) {
    auto t = parse_url(req.url);
    if (!t.ok()) co_return t.err();
    tcp::resolver resolver(ex);
    auto [rerr, endpoints] = co_await resolver.async_resolve(t->host, t->port, nothrow);
    if (rerr) co_return unreachable(req.url, "resolve: " + rerr.message());

    beast::tcp_stream tcp_stream(ex);
    tcp_stream.expires_after(req.timeout);
    auto [cerr, ep] = co_await tcp_stream.async_connect(endpoints, nothrow);
    if (cerr) co_return unreachable(req.url, "connect: " + cerr.message());
    if (!t->tls) {
        auto r = co_await exchange(tcp_stream, req, *t, opts);
        beast::error_code ignored;
        tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return r;
    }
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), tls_context(opts.verify_tls));
    if (!SSL_set_tlsext_host_name(tls.native_handle(), t->host.c_str()))
        co_return unreachable(req.url, "TLS: bad host name");
    if (opts.verify_tls) tls.set_verify_callback(asio::ssl::host_name_verification(t->host));
    auto [herr] = co_await tls.async_handshake(asio::ssl::stream_base::client, nothrow);
    if (herr) co_return unreachable(req.url, "TLS handshake: " + herr.message());
    auto r = co_await exchange(tls, req, *t, opts);
    beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(1));
    co_await tls.async_shutdown(nothrow);  // a peer that skips close_notify is no error here
    co_return r;
}

}  // namespace souk::http
