#include "http/dispatch.hpp"

#include <fmt/format.h>

#include <chrono>
#include <random>
#include <souk/core/clock.hpp>
#include <souk/log/log.hpp>
#include <souk/metrics/metrics.hpp>

namespace souk::http {

namespace {

constexpr std::size_t request_id_len_max = 128;

std::uint64_t fast_random() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng();
}

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > request_id_len_max) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok) return false;
    }
    return true;
}

bool is_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Appends v as 16 lower-case hex digits.
void append_hex16(std::string& out, std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    char buf[16];
    for (int i = 15; i >= 0; --i) {
        buf[i] = digits[v & 0xf];
        v >>= 4;
    }
    out.append(buf, sizeof buf);
}

std::string random_request_id() {
    std::string id;
    append_hex16(id, fast_random());
    return id;
}

// W3C traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>.
std::string trace_id_of(std::string_view traceparent) {
    if (traceparent.size() == 55 && traceparent[2] == '-' && traceparent[35] == '-' &&
        traceparent[52] == '-') {
        auto id = traceparent.substr(3, 32);
        if (is_hex(id) && id != "00000000000000000000000000000000") return std::string(id);
    }
    std::string id;
    id.reserve(32);
    append_hex16(id, fast_random());
    append_hex16(id, fast_random());
    return id;
}

// The security headers of every response, rendered once.
constexpr std::string_view security_headers =
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: strict-origin-when-cross-origin\r\n"
    "X-Frame-Options: DENY\r\n"
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'\r\n";
constexpr std::string_view hsts_header =
    "Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n";

bool is_json_content_type(std::string_view ct) {
    const auto semi = ct.find(';');
    auto base = ct.substr(0, semi);
    while (!base.empty() && base.back() == ' ')
        base.remove_suffix(1);
    if (base.size() != 16) return false;
    std::string lower(base);
    for (auto& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower == "application/json";
}

bool takes_body(method m) {
    return m == method::post || m == method::put || m == method::patch;
}

struct request_metrics {
    prometheus::Family<prometheus::Counter>& requests =
        prometheus::BuildCounter()
            .Name("souk_http_requests_total")
            .Help("HTTP requests by route and status class")
            .Register(metrics::registry());
    prometheus::Family<prometheus::Histogram>& latency =
        prometheus::BuildHistogram()
            .Name("souk_http_request_duration_seconds")
            .Help("HTTP request latency by route and status class")
            .Register(metrics::registry());
};

request_metrics& http_metrics() {
    static request_metrics m;
    return m;
}

constexpr std::array<std::string_view, 5> status_classes{"1xx", "2xx", "3xx", "4xx", "5xx"};

// Metrics for requests that matched no route, resolved once.
struct unmatched_metrics {
    std::array<prometheus::Counter*, 5> requests{};
    std::array<prometheus::Histogram*, 5> latency{};
    unmatched_metrics(std::string_view name) {
        for (std::size_t i = 0; i < 5; ++i) {
            prometheus::Labels l{{"route", std::string(name)},
                                 {"status", std::string(status_classes[i])}};
            requests[i] = &http_metrics().requests.Add(l);
            latency[i] = &http_metrics().latency.Add(l, metrics::latency_buckets());
        }
    }
};

}  // namespace

void attach_route_metrics(route& r) {
    const std::string name = std::string(to_string(r.method)) + " " + r.pattern;
    for (std::size_t i = 0; i < 5; ++i) {
        prometheus::Labels l{{"route", name}, {"status", std::string(status_classes[i])}};
        r.requests[i] = &http_metrics().requests.Add(l);
        r.latency[i] = &http_metrics().latency.Add(l, metrics::latency_buckets());
    }
}

dispatcher::dispatcher(const router& r, const static_files* assets, dispatch_options opts)
    : router_(r), assets_(assets), opts_(std::move(opts)) {}

boost::asio::awaitable<response> dispatcher::handle(request& req) {
    const auto started = std::chrono::steady_clock::now();
    if (auto id = req.header("X-Request-Id"); valid_request_id(id)) {
        req.request_id = std::string(id);
    } else {
        req.request_id = random_request_id();
    }
    req.trace_id = trace_id_of(req.header("traceparent"));
    std::optional<response> res;  // not a default response: its content type is a heap string
    try {
        // Everything up to the handler is synchronous: only the route's chain is awaited (one
        // coroutine frame fewer per request).
        res = check_request(req);
        if (!res) res = co_await req.route->chain(req);
    } catch (const std::exception& e) {
        log::error("handler threw", {{"request_id", req.request_id}, {"what", e.what()}});
        res = response::fail(error::internal(), req.request_id);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    finish(req, *res, req.route, seconds);
    co_return std::move(*res);
}

std::optional<response> dispatcher::check_request(request& req) {
    const bool is_api = req.path.rfind("/api/", 0) == 0 || req.path == "/api";
    if (opts_.redirect_to_https && req.path != "/health" && req.path != "/ready") {
        response r = response::raw(308, "text/plain", "");
        r.set_header("Location", opts_.https_origin + req.target);
        return r;
    }
    const match_result m = router_.match(req.method, req.path, req);
    if (!m.route) {
        if (!is_api && assets_ && (req.method == method::get || req.method == method::head)) {
            if (auto r = assets_->serve(req)) return std::move(*r);
        }
        if (m.path_matched) {
            response r = response::fail(error::method_not_allowed(), req.request_id);
            r.set_header("Allow", m.allow);
            return r;
        }
        return response::fail(error::not_found("no such resource"), req.request_id);
    }
    req.route = m.route;
    const route_options& o = m.route->options;
    if (req.body.size() > o.body_limit)
        return response::fail(error::payload_too_large(), req.request_id);
    if (o.json_body && takes_body(req.method) && !req.body.empty() &&
        !is_json_content_type(req.header("Content-Type")))
        return response::fail(error::unsupported_media_type(), req.request_id);
    if (o.access != access::anyone) {
        if (!router_.auth()) return response::fail(error::unauthenticated(), req.request_id);
        auto who = router_.auth()(req);
        if (!who.ok()) {
            if (router_.auth_failure()) {
                if (auto limited = router_.auth_failure()(req)) return std::move(*limited);
            }
            return response::fail(who.err(), req.request_id);
        }
        req.caller = std::move(*who);
        if (o.access == access::roles) {
            bool allowed = false;
            for (const auto& role : o.roles)
                allowed = allowed || req.caller->has_role(role);
            if (!allowed) return response::fail(error::forbidden(), req.request_id);
        }
    }
    return std::nullopt;  // req.route is set: run its chain
}

response dispatcher::refuse(const souk::error& e, request& req) {
    if (req.request_id.empty()) req.request_id = random_request_id();
    response res = response::fail(e, req.request_id);
    res.close = true;
    finish(req, res, nullptr, 0);
    return res;
}

void dispatcher::append_standard_headers(std::string& out, const request& req,
                                         const response& res) {
    out += "X-Request-Id: ";
    out += req.request_id;
    out += "\r\n";
    out += security_headers;
    if (req.secure) out += hsts_header;
    if (res.content_type == "application/json" && res.header("Cache-Control").empty())
        out += "Cache-Control: no-store\r\n";
}

void dispatcher::finish(request& req, response& res, const route* r, double seconds) {
    const std::size_t cls = static_cast<std::size_t>(std::clamp(res.status / 100, 1, 5) - 1);
    static unmatched_metrics unmatched("unmatched");
    if (r && r->requests[cls]) {
        r->requests[cls]->Increment();
        r->latency[cls]->Observe(seconds);
    } else {
        unmatched.requests[cls]->Increment();
        unmatched.latency[cls]->Observe(seconds);
    }
    if (!opts_.log_requests) return;
    std::string line = fmt::format(
        R"({{"ts":"{}","level":"info","msg":"request","request_id":"{}","trace_id":"{}","method":"{}","route":"{}","status":{},"duration_ms":{:.3f}{}}})",
        format_rfc3339(system_clock().now()), req.request_id, req.trace_id, to_string(req.method),
        r ? std::string_view(r->pattern) : std::string_view("-"), res.status, seconds * 1000.0,
        req.caller ? fmt::format(R"(,"user":"{}")", req.caller->user_id) : std::string());
    log::raw_line(line);
}

}  // namespace souk::http
