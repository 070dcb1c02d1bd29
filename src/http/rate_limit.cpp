#include <cmath>
#include <functional>
#include <souk/http/rate_limit.hpp>

namespace souk::http {

void rate_limiter::set_limit(std::string route_class, bucket_limit l) {
    limits_[std::move(route_class)] = l;
}

bool rate_limiter::has_class(std::string_view route_class) const {
    return limits_.find(route_class) != limits_.end();
}

rate_decision rate_limiter::take(std::string_view route_class, std::string_view client_prefix,
                                 std::string_view client) {
    const auto lim = limits_.find(route_class);
    if (lim == limits_.end()) return {};
    const bucket_limit& l = lim->second;
    // Built in a buffer of the thread's: a bucket's key is copied only when it is new.
    thread_local std::string key;
    key.assign(route_class).append(1, '|').append(client_prefix).append(client);
    shard& s = shards_[string_hash{}(key) % shard_count];
    const auto now = clock_.now_ms();
    std::lock_guard lock(s.mu);
    if (s.buckets.size() >= buckets_per_shard_max_) {
        // Forget buckets that have refilled (each by its own class's rate): they carry no
        // information.
        std::erase_if(s.buckets, [&](const auto& kv) { return kv.second.full(now); });
    }
    auto it = s.buckets.find(std::string_view(key));
    if (it == s.buckets.end()) it = s.buckets.emplace(key, bucket{l.burst, now, &l}).first;
    bucket& b = it->second;
    b.tokens = b.tokens_at(now);
    b.last_ms = now;
    rate_decision d;
    d.limit = l.burst;
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        d.allowed = true;
    } else {
        d.allowed = false;
        d.retry_after_seconds = std::max<std::int64_t>(
            1, static_cast<std::int64_t>(std::ceil((1.0 - b.tokens) / l.per_second)));
    }
    d.remaining = std::floor(b.tokens);
    d.reset_seconds = static_cast<std::int64_t>(std::ceil((l.burst - b.tokens) / l.per_second));
    return d;
}

namespace {

void stamp(response& r, const rate_decision& d) {
    r.set_header("X-RateLimit-Limit", std::to_string(static_cast<std::int64_t>(d.limit)));
    r.set_header("X-RateLimit-Remaining", std::to_string(static_cast<std::int64_t>(d.remaining)));
    r.set_header("X-RateLimit-Reset", std::to_string(d.reset_seconds));
}

response too_many(const rate_decision& d, std::string_view request_id) {
    error e{429, "RATE_LIMITED", "too many requests; retry later"};
    e.headers.emplace_back("Retry-After", std::to_string(d.retry_after_seconds));
    response r = response::fail(e, request_id);
    stamp(r, d);
    return r;
}

}  // namespace

std::optional<response> rate_limiter::limit_unauthenticated(request& req) {
    const auto& cls = req.route ? req.route->options.rate_class : std::string();
    if (cls.empty() || !has_class(cls)) return std::nullopt;
    const rate_decision d = take(cls, "ip:", req.remote_address);
    if (d.allowed) return std::nullopt;
    return too_many(d, req.request_id);
}

middleware rate_limiter::as_middleware() {
    return [this](request& req, const handler& next) -> boost::asio::awaitable<response> {
        const auto& cls = req.route ? req.route->options.rate_class : std::string();
        if (cls.empty() || !has_class(cls)) co_return co_await next(req);
        const rate_decision d = req.caller ? take(cls, "u:", req.caller->user_id)
                                           : take(cls, "ip:", req.remote_address);
        if (!d.allowed) co_return too_many(d, req.request_id);
        response r = co_await next(req);
        stamp(r, d);
        co_return r;
    };
}

}  // namespace souk::http
