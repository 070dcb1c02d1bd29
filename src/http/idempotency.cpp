#include <souk/core/assert.hpp>
#include <souk/core/crypto.hpp>
#include <souk/core/random.hpp>
#include <souk/http/idempotency.hpp>

namespace souk::http {

namespace {

constexpr std::size_t key_len_max = 255;

std::uint64_t key_hash(std::string_view caller, std::string_view route, std::string_view key) {
    // FNV-1a over the three parts with separators, then a final mix (splitmix64).
    std::uint64_t h = 1469598103934665603ULL;
    auto mix_in = [&h](std::string_view part) {
        for (unsigned char c : part) {
            h ^= c;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    };
    mix_in(caller);
    mix_in(route);
    mix_in(key);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

std::uint64_t hash_of(const idempotency_ticket& t) {
    return t.key_hash != 0 ? t.key_hash : key_hash(t.caller, t.route, t.key);
}

std::string request_hash(const request& req) {
    return to_hex(crypto::sha256({req.method_name, " ", req.target, "\n", req.body}));
}

}  // namespace

std::optional<stored_response> idempotency_lookup(db::connection& c, const idempotency_ticket& t,
                                                  std::int64_t now_ms) {
    auto& st = c.prepare(
        "SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE caller = ? "
        "AND route = ? AND idem_key = ? AND created_ms > ?");
    st.bind_all(t.caller, t.route, t.key, now_ms - idempotency_ttl_ms);
    std::optional<stored_response> out;
    if (st.step())
        out = stored_response{st.text(0), static_cast<int>(st.int64(1)), st.text(2), st.text(3)};
    st.reset();
    return out;
}

void idempotency_record(db::tx& t, const idempotency_ticket& ticket, int status,
                        std::string_view content_type, std::string_view body) {
    // A key older than the TTL may be reused: replace it.
    t.prepare(
         "DELETE FROM idempotency_keys WHERE caller = ? AND route = ? AND idem_key = ? AND "
         "created_ms <= ?")
        .bind_all(ticket.caller, ticket.route, ticket.key, t.now_ms() - idempotency_ttl_ms)
        .run();
    t.prepare(
         "INSERT OR IGNORE INTO idempotency_keys (caller, route, idem_key, request_hash, status, "
         "content_type, body, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(ticket.caller, ticket.route, ticket.key, ticket.request_hash,
                  std::int64_t{status}, content_type, body, t.now_ms())
        .run();
}

response idempotency_replay(const stored_response& s, const idempotency_ticket& t,
                            std::string_view request_id) {
    if (s.request_hash != t.request_hash) {
        return response::fail(
            {422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with another request"},
            request_id);
    }
    response r = response::raw(s.status, s.content_type, s.body);
    r.set_header("Idempotent-Replayed", "true");
    return r;
}

bool idempotency_guard::enter(std::uint64_t slot) {
    auto& shard = in_flight_[slot % in_flight_.size()];
    std::lock_guard lock(shard.mu);
    return shard.slots.insert(slot).second;
}

void idempotency_guard::leave(std::uint64_t slot) {
    auto& shard = in_flight_[slot % in_flight_.size()];
    std::lock_guard lock(shard.mu);
    shard.slots.erase(slot);
}

middleware idempotency_guard::as_middleware() {
    return [this](request& req, const handler& next) -> boost::asio::awaitable<response> {
        if (!req.route || !req.route->options.idempotent) co_return co_await next(req);
        const auto key = req.header("Idempotency-Key");
        if (key.empty() || key.size() > key_len_max) {
            co_return response::fail(
                error::bad_request("an Idempotency-Key header (1-255 characters) is required"),
                req.request_id);
        }
        // Built in place: the handler reads it there, and so does the recording below.
        idempotency_ticket& ticket = req.idempotency.emplace();
        ticket.caller = req.caller ? req.caller->user_id : "ip:" + req.remote_address;
        ticket.route = req.route->name;
        ticket.key = std::string(key);
        ticket.request_hash = request_hash(req);
        ticket.key_hash = key_hash(ticket.caller, ticket.route, ticket.key);
        const std::uint64_t slot = ticket.key_hash;
        if (!enter(slot)) {
            co_return response::fail(
                error::conflict("CONFLICT", "a request with this Idempotency-Key is still running"),
                req.request_id);
        }
        struct release_slot {
            idempotency_guard* g;
            std::uint64_t slot;
            ~release_slot() { g->leave(slot); }
        } release{this, slot};

        if (!req.route->options.idempotency_in_job) {
            const auto now = clock_.now_ms();
            auto stored = co_await db_.read<std::optional<stored_response>>(
                [ticket, now](db::connection& c) -> result<std::optional<stored_response>> {
                    return idempotency_lookup(c, ticket, now);
                });
            if (!stored.ok()) co_return response::fail(stored.err(), req.request_id);
            if (*stored) co_return idempotency_replay(**stored, ticket, req.request_id);
        }
        response res = co_await next(req);
        if (!req.idempotency->recorded && res.status < 500) {
            // Answers without an effect (409, 422...) are kept too, so a retry sees the same.
            auto t = *req.idempotency;
            auto stored =
                co_await db_.writer().write<bool>([t, status = res.status, ct = res.content_type,
                                                   body = res.body](db::tx& x) -> result<bool> {
                    idempotency_record(x, t, status, ct, body);
                    return true;
                });
            (void)stored;
        }
        co_return res;
    };
}

boost::asio::awaitable<void> idempotency_guard::purge() {
    const auto cutoff = clock_.now_ms() - idempotency_ttl_ms;
    auto r = co_await db_.writer().write<bool>([cutoff](db::tx& t) -> result<bool> {
        t.prepare("DELETE FROM idempotency_keys WHERE created_ms <= ?").bind(1, cutoff).run();
        return true;
    });
    (void)r;
}

namespace {

constexpr int filter_probes = 4;
// Blocked: a key's probes all fall in one 512-bit block, one cache line, so a lookup costs one
// cache miss instead of four (the filter is megabytes); false "maybe"s rise a little.
constexpr std::uint64_t block_bits = 512;
constexpr std::size_t block_words = block_bits / 64;

}  // namespace

recorded_keys::recorded_keys(std::size_t bits_log2, std::size_t capacity)
    : words_(std::size_t{1} << (bits_log2 - 6)),
      mask_((std::uint64_t{1} << (bits_log2 - 9)) - 1),  // blocks
      capacity_(capacity) {
    SOUK_ASSERT(bits_log2 >= 9);
}

void recorded_keys::note_hash(std::uint64_t h) {
    const std::size_t base = static_cast<std::size_t>((h >> 40) & mask_) * block_words;
    for (int i = 0; i < filter_probes; ++i) {
        const std::uint64_t bit = (h >> (9 * i)) & (block_bits - 1);
        auto& word = words_[base + bit / 64];
        const std::uint64_t mask = std::uint64_t{1} << (bit & 63);
        // A locked read-modify-write only where the bit is missing.
        if (!(word.load(std::memory_order_relaxed) & mask))
            word.fetch_or(mask, std::memory_order_relaxed);
    }
    count_.fetch_add(1, std::memory_order_relaxed);
}

void recorded_keys::note(const idempotency_ticket& t) {
    note_hash(hash_of(t));
}

void recorded_keys::note(std::string_view caller, std::string_view route, std::string_view key) {
    note_hash(key_hash(caller, route, key));
}

bool recorded_keys::may_have(const idempotency_ticket& t) const {
    if (count_.load(std::memory_order_relaxed) >= capacity_) return true;
    const std::uint64_t h = hash_of(t);
    const std::size_t base = static_cast<std::size_t>((h >> 40) & mask_) * block_words;
    for (int i = 0; i < filter_probes; ++i) {
        const std::uint64_t bit = (h >> (9 * i)) & (block_bits - 1);
        if (!(words_[base + bit / 64].load(std::memory_order_relaxed) &
              (std::uint64_t{1} << (bit & 63))))
            return false;
    }
    return true;
}

std::size_t recorded_keys::load(db::connection& c, std::string_view route, std::int64_t since_ms) {
    auto& st = c.prepare(
        "SELECT caller, idem_key FROM idempotency_keys WHERE route = ? AND created_ms >= ?");
    st.bind_all(route, since_ms);
    std::size_t n = 0;
    while (st.step()) {
        note_hash(key_hash(st.text_view(0), route, st.text_view(1)));
        ++n;
    }
    st.reset();
    return n;
}

}  // namespace souk::http
