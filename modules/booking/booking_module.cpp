// The booking module: events, shows and zones (organizer CRUD), and reservations on the
// inventory engine — reserve, confirm, cancel, expire — per API.md "Booking".
#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <souk/booking/booking.hpp>
#include <souk/core/assert.hpp>
#include <souk/core/random.hpp>
#include <souk/http/audit.hpp>
#include <souk/http/json.hpp>
#include <souk/identity/identity.hpp>
#include <souk/log/log.hpp>

#include "catalog.hpp"
#include "owners.hpp"
#include "passes.hpp"

namespace souk::booking {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using http::request;
using http::response;
using inventory::shard;

response fail(const request& req, const error& e) {
    return response::fail(e, req.request_id);
}

// Set once, before the server serves (find_succeeded_payments_with).
succeeded_payment_finder& installed_payment_finder() {
    static succeeded_payment_finder find;
    return find;
}

// "Summer Jazz Night!" -> "summer-jazz-night"
std::string slugify(std::string_view title) {
    std::string out;
    for (unsigned char c : title) {
        if (std::isalnum(c)) {
            out += static_cast<char>(std::tolower(c));
        } else if (!out.empty() && out.back() != '-') {
            out += '-';
        }
        if (out.size() >= 80) break;
    }
    while (!out.empty() && out.back() == '-')
        out.pop_back();
    return out.empty() ? "event" : out;
}

struct event_row {
    std::string id, tenant_id, organizer_id, slug, title, description, category, venue, currency,
        status;
    std::int64_t starts_ms = 0, sale_starts_ms = 0, max_per_user = 1, created_ms = 0;
    bool deleted = false;
};

struct show_row {
    std::string id, event_id;
    std::int64_t starts_ms = 0, ends_ms = 0, admit_per_minute = 60;
    bool queue_enabled = false;
};

struct zone_row {
    std::string id, show_id, event_id, name, currency;
    std::int64_t price_amount = 0, capacity = 0, held = 0, confirmed = 0;
};

struct booking_row {
    std::string id, tenant_id, user_id, event_id, show_id, zone_id, currency, status;
    std::int64_t quantity = 0, amount = 0, expires_ms = 0, created_ms = 0;
};

constexpr const char* event_cols =
    "id, tenant_id, organizer_id, slug, title, description, category, venue, currency, status, "
    "starts_ms, sale_starts_ms, max_per_user, created_ms, deleted_ms IS NOT NULL";
constexpr const char* booking_cols =
    "id, tenant_id, user_id, event_id, show_id, zone_id, currency, status, quantity, amount, "
    "expires_ms, created_ms";

event_row read_event(db::statement& st) {
    return {st.text(0),   st.text(1),   st.text(2),   st.text(3),   st.text(4),
            st.text(5),   st.text(6),   st.text(7),   st.text(8),   st.text(9),
            st.int64(10), st.int64(11), st.int64(12), st.int64(13), st.int64(14) != 0};
}

booking_row read_booking(db::statement& st) {
    return {st.text(0), st.text(1), st.text(2),  st.text(3),  st.text(4),   st.text(5),
            st.text(6), st.text(7), st.int64(8), st.int64(9), st.int64(10), st.int64(11)};
}

boost::json::object to_json(const event_row& e) {
    return {{"id", e.id},
            {"slug", e.slug},
            {"title", e.title},
            {"description", e.description},
            {"category", e.category},
            {"venue", e.venue},
            {"starts_at", format_rfc3339_ms(e.starts_ms)},
            {"sale_starts_at", format_rfc3339_ms(e.sale_starts_ms)},
            {"max_per_user", e.max_per_user},
            {"currency", e.currency},
            {"status", e.status},
            {"organizer_id", e.organizer_id},
            {"created_at", format_rfc3339_ms(e.created_ms)}};
}

boost::json::object to_json(const show_row& s) {
    return {{"id", s.id},
            {"event_id", s.event_id},
            {"starts_at", format_rfc3339_ms(s.starts_ms)},
            {"ends_at", format_rfc3339_ms(s.ends_ms)},
            {"queue", {{"enabled", s.queue_enabled}, {"admit_per_minute", s.admit_per_minute}}}};
}

boost::json::object to_json(const booking_row& b) {
    return {{"id", b.id},
            {"status", b.status},
            {"event_id", b.event_id},
            {"show_id", b.show_id},
            {"zone_id", b.zone_id},
            {"quantity", b.quantity},
            {"amount", json::money(b.amount, b.currency)},
            {"expires_at", format_rfc3339_ms(b.expires_ms)},
            {"created_at", format_rfc3339_ms(b.created_ms)}};
}

// Appends ,"key":"value" to an object being written.
void append_json_field(std::string& out, std::string_view key, std::string_view value) {
    out += ",\"";
    out += key;
    out += "\":";
    json::append_string(out, value);
}

// Appends ,"quantity":q,"amount":{"amount":a,"currency":"c"} (json::money's form).
void append_quantity_and_amount(std::string& out, const booking_row& b) {
    out += R"(,"quantity":)";
    out += std::to_string(b.quantity);
    out += R"(,"amount":{"amount":)";
    out += std::to_string(b.amount);
    out += R"(,"currency":)";
    json::append_string(out, b.currency);
    out += '}';
}

// Reserve's 201 body: a function of the booking as created, so a replay can be rebuilt from it.
// Written out directly — it is on every reservation's path, and building a json::object first
// cost ~6 % of the io threads — as the same bytes as the envelope around to_json() (checked in
// debug builds).
std::string created_body(const booking_row& b) {
    std::string out;
    out.reserve(384);
    out += R"({"success":true,"data":{"id":)";
    json::append_string(out, b.id);
    out += R"(,"status":"reserved")";
    append_json_field(out, "event_id", b.event_id);
    append_json_field(out, "show_id", b.show_id);
    append_json_field(out, "zone_id", b.zone_id);
    append_quantity_and_amount(out, b);
    append_json_field(out, "expires_at", format_rfc3339_ms(b.expires_ms));
    append_json_field(out, "created_at", format_rfc3339_ms(b.created_ms));
    out += "}}";
#ifndef NDEBUG
    booking_row as_created = b;
    as_created.status = "reserved";
    SOUK_ASSERT(out == json::serialize(
                           boost::json::object{{"success", true}, {"data", to_json(as_created)}}));
#endif
    return out;
}

// Booking ids as a JSON array, for `id IN (SELECT value FROM json_each(?))`.
std::string json_ids(const std::vector<std::string>& ids) {
    boost::json::array a;
    a.reserve(ids.size());
    for (const auto& id : ids)
        a.emplace_back(id);
    return json::serialize(a);
}

// The bookings of user ?1 (under Idempotency-Key ?2 when by_key, among the bookings minted from
// ?5 on: the index is keyed by user and booking, so a key is looked for in the user's recent
// entries): those in the owner index and those it still holds in memory, a JSON array of ids
// bound to ?4 (owners.hpp).
std::string owned_bookings(bool by_key) {
    const std::string owner = by_key ? "user_id = ?1 AND idem_key = ?2" : "user_id = ?1";
    const std::string recent = by_key ? " AND booking_id >= ?5" : "";
    return "(id IN (SELECT booking_id FROM booking_owners WHERE " + owner + recent +
           ") OR id IN (SELECT value FROM json_each(?4))) AND " + owner;
}

// The stored answer to a reserve key: the booking it made (its 201 rebuilt from the row), or an
// answer without effect that the idempotency middleware kept. `pending` are the caller's
// bookings under this key that the owner index holds in memory still (owners.hpp).
std::optional<http::stored_response> reserve_lookup(db::connection& c,
                                                    const http::idempotency_ticket& t,
                                                    const std::vector<std::string>& pending,
                                                    std::int64_t now_ms) {
    auto& st =
        c.prepare(std::string("SELECT ") + booking_cols + ", request_hash FROM bookings WHERE " +
                  owned_bookings(true) + " AND created_ms > ?3 ORDER BY created_ms DESC LIMIT 1");
    const std::int64_t since_ms = now_ms - http::idempotency_ttl_ms;
    st.bind_all(t.caller, t.key, since_ms, json_ids(pending), id_floor("bkg", since_ms));
    std::optional<http::stored_response> out;
    if (st.step())
        out = http::stored_response{st.text(12), 201, "application/json",
                                    created_body(read_booking(st))};
    st.reset();
    if (!out) out = http::idempotency_lookup(c, t, now_ms);
    return out;
}

std::optional<event_row> find_event(db::connection& c, std::string_view where,
                                    std::string_view key) {
    auto& st =
        c.prepare(std::string("SELECT ") + event_cols + " FROM events WHERE " + std::string(where));
    st.bind(1, key);
    std::optional<event_row> out;
    if (st.step()) out = read_event(st);
    st.reset();
    return out;
}

std::vector<show_row> find_shows(db::connection& c, std::string_view event_id) {
    auto& st = c.prepare(
        "SELECT id, event_id, starts_ms, ends_ms, admit_per_minute, queue_enabled FROM shows WHERE "
        "event_id = ? ORDER BY starts_ms, id");
    st.bind(1, event_id);
    std::vector<show_row> out;
    while (st.step())
        out.push_back(
            {st.text(0), st.text(1), st.int64(2), st.int64(3), st.int64(4), st.int64(5) != 0});
    st.reset();
    return out;
}

std::optional<booking_row> find_booking(db::connection& c, std::string_view id) {
    auto& st = c.prepare(std::string("SELECT ") + booking_cols + " FROM bookings WHERE id = ?");
    st.bind(1, id);
    std::optional<booking_row> out;
    if (st.step()) out = read_booking(st);
    st.reset();
    return out;
}

// One pointer for tx::add_to_row and tx::added_to_row.
constexpr const char* zone_seats_sql =
    "UPDATE zones SET held = held + ?, confirmed = confirmed + ? WHERE id = ?";

// Seat counters move in the same transaction as the booking that moves them.
void move_seats(db::tx& t, const std::string& zone_id, std::int64_t held_delta,
                std::int64_t confirmed_delta) {
    // Summed over the batch: in a rush every job of it moves the same zone's seats.
    t.add_to_row(zone_seats_sql, zone_id, held_delta, confirmed_delta);
}

// A zone's seats as memory counts them.
struct zone_seats {
    std::int64_t capacity = 0, held = 0, confirmed = 0;
};

// Memory's counters against the zones rows as the writer's batch leaves them; the zones of
// other shards (`mine` false) are not compared.
std::vector<std::string> compare_seats(db::tx& t,
                                       const std::unordered_map<std::string, zone_seats>& memory,
                                       const std::function<bool(std::string_view)>& mine) {
    std::vector<std::string> problems;
    std::size_t compared = 0;
    auto& st = t.prepare("SELECT id, event_id, capacity, held, confirmed FROM zones");
    while (st.step()) {
        if (!mine(st.text_view(1))) continue;
        const auto id = st.text(0);
        const auto [held, confirmed] = t.added_to_row(zone_seats_sql, id);
        const zone_seats stored{st.int64(2), st.int64(3) + held, st.int64(4) + confirmed};
        const auto m = memory.find(id);
        if (m == memory.end()) {
            problems.push_back("zone " + id + ": in SQLite, not in memory");
            continue;
        }
        ++compared;
        const auto& mem = m->second;
        if (mem.capacity != stored.capacity || mem.held != stored.held ||
            mem.confirmed != stored.confirmed)
            problems.push_back(
                fmt::format("zone {}: memory has capacity {} held {} confirmed {}, SQLite {} {} {}",
                            id, mem.capacity, mem.held, mem.confirmed, stored.capacity, stored.held,
                            stored.confirmed));
    }
    st.reset();
    if (compared != memory.size())
        problems.push_back(
            fmt::format("{} zone(s) in memory, not in SQLite", memory.size() - compared));
    return problems;
}

boost::json::object event_payload(const booking_row& b) {
    return {{"booking_id", b.id},
            {"user_id", b.user_id},
            {"event_id", b.event_id},
            {"show_id", b.show_id},
            {"zone_id", b.zone_id},
            {"quantity", b.quantity},
            {"amount", json::money(b.amount, b.currency)}};
}

// event_payload, serialized by hand: one per reservation.
std::string event_payload_json(const booking_row& b) {
    std::string out;
    out.reserve(320);
    out += R"({"booking_id":)";
    json::append_string(out, b.id);
    append_json_field(out, "user_id", b.user_id);
    append_json_field(out, "event_id", b.event_id);
    append_json_field(out, "show_id", b.show_id);
    append_json_field(out, "zone_id", b.zone_id);
    append_quantity_and_amount(out, b);
    out += '}';
#ifndef NDEBUG
    SOUK_ASSERT(out == json::serialize(event_payload(b)));
#endif
    return out;
}

struct checkin {
    booking_row booking;
    std::optional<std::int64_t> used_ms;  // set when it had been used before
};

// Marks a confirmed booking's ticket used, once. Door staff check in their own events' tickets
// only (admins and the operator's CLI any).
result<checkin> check_in(db::tx& t, const std::string& id, const std::string& staff, bool admin) {
    auto b = find_booking(t.conn(), id);
    if (!b) return error::not_found("no such booking");
    auto e = find_event(t.conn(), "id = ?1", b->event_id);
    if (!e || (!admin && e->organizer_id != staff)) return error::not_found("no such booking");
    if (b->status != "confirmed")
        return error::conflict("INVALID_STATE", "the booking is " + b->status);
    auto& used = t.prepare("SELECT used_ms FROM ticket_checkins WHERE booking_id = ?");
    used.bind(1, id);
    std::optional<std::int64_t> used_ms;
    if (used.step()) used_ms = used.int64(0);
    used.reset();
    if (!used_ms) {
        t.prepare("INSERT INTO ticket_checkins (booking_id, used_ms, used_by) VALUES (?, ?, ?)")
            .bind_all(id, t.now_ms(), staff)
            .run();
        t.publish("booking.checked_in", {{"booking_id", id}, {"event_id", b->event_id}});
    }
    return checkin{*b, used_ms};
}

struct reserve_outcome {
    int status = 201;
    std::string body;  // the response body (a replay's as first given)
    std::string content_type = "application/json";
    bool replayed = false;
};

class booking_module final : public module {
  public:
    explicit booking_module(context& ctx)
        : ctx_(ctx), release_timer_(ctx.executors.front()), owners_timer_(ctx.executors.front()) {
        const auto& cfg = ctx.cfg.raw.at("booking").get_object();
        hold_ms_ = cfg.at("hold_seconds").to_number<std::int64_t>() * 1000;
        quantity_max_ = cfg.at("quantity_max").to_number<std::int64_t>();
        cancel_cutoff_ms_ = cfg.at("cancel_cutoff_hours").to_number<std::int64_t>() * 3'600'000;
        pass_ms_ = cfg.at("queue_pass_seconds").to_number<std::int64_t>() * 1000;
        default_currency_ = std::string(cfg.at("default_currency").get_string());
        owners_interval_ =
            std::chrono::seconds(cfg.at("owner_index_seconds").to_number<std::int64_t>());
        for (std::size_t i = 0; i < ctx.inventory.shard_count(); ++i) {
            shard& s = ctx.inventory.at(i);
            s.on_expiry([this, &s](const std::string& hold_id) {
                asio::co_spawn(s.executor(), expire_hold(s, hold_id), asio::detached);
            });
        }
        add_routes();
        subscribe_to_payments();
    }

    std::string_view name() const override { return "booking"; }

    awaitable<void> ready() override {
        co_await rebuild();
        co_await recover_owner_index();
        asio::co_spawn(release_timer_.get_executor(), release_loop(), asio::detached);
        asio::co_spawn(owners_timer_.get_executor(), owners_loop(), asio::detached);
    }

    // Memory against SQLite, shard by shard: the shard's counters are read on its strand and, in
    // the same step, a job goes to the FIFO writer to read the zones there — after every write
    // the shard queued before, before any it queues after, with what the batch has added so far.
    // A write that fails is undone in memory after its job ran, and a zone is written before it
    // is put in memory: a difference counts only when it is still there a little later.
    awaitable<std::vector<std::string>> check_live() override {
        std::vector<std::string> problems;
        for (int round = 0; round < 3; ++round) {
            if (round > 0) {
                asio::steady_timer pause(co_await asio::this_coro::executor,
                                         std::chrono::milliseconds(200));
                co_await pause.async_wait(asio::use_awaitable);
            }
            problems.clear();
            for (std::size_t i = 0; i < ctx_.inventory.shard_count(); ++i) {
                auto found = co_await inventory::engine::run_on(
                    ctx_.inventory.at(i), [this](shard& s) { return compare_shard(s); });
                problems.insert(problems.end(), found.begin(), found.end());
            }
            if (problems.empty()) break;
        }
        co_return problems;
    }

    awaitable<std::vector<std::string>> compare_shard(shard& s) {
        std::unordered_map<std::string, zone_seats> memory;
        s.for_each_resource([&](const std::string& id, const inventory::resource_state& r) {
            memory.emplace(id, zone_seats{r.capacity, r.held, r.confirmed});
        });
        auto r = co_await ctx_.db.writer().write<std::vector<std::string>>(
            [this, &s, memory = std::move(memory)](db::tx& t) -> result<std::vector<std::string>> {
                return compare_seats(t, memory, [this, &s](std::string_view event_id) {
                    return &ctx_.inventory.for_partition(event_id) == &s;
                });
            });
        if (!r.ok()) co_return std::vector<std::string>{"cannot compare: " + r.err().message};
        co_return std::move(*r);
    }

    // After the io threads have stopped, before the writer does.
    void stop() override {
        stopped_ = true;
        release_timer_.cancel();
        owners_timer_.cancel();
        flush_owner_index();
    }

  private:
    void add_routes() {
        auto& r = ctx_.router;
        auto bind = [this](awaitable<response> (booking_module::*fn)(request&)) {
            return [this, fn](request& req) { return (this->*fn)(req); };
        };
        const std::vector<std::string> organizers{"organizer", "admin"};
        r.get("/api/v1/events", {.summary = "Published events, soonest first"},
              bind(&booking_module::list_events));
        r.get("/api/v1/events/{slug}", {.summary = "An event with its shows"},
              bind(&booking_module::get_event));
        r.post("/api/v1/events",
               identity::require_roles(organizers, {.summary = "Create an event"}),
               bind(&booking_module::create_event));
        r.put("/api/v1/events/{slug}",
              identity::require_roles(organizers, {.summary = "Update an event"}),
              bind(&booking_module::update_event));
        r.del("/api/v1/events/{slug}",
              identity::require_roles(organizers, {.summary = "Delete an event (soft)"}),
              bind(&booking_module::delete_event));
        r.post("/api/v1/events/{slug}/publish",
               identity::require_roles(organizers, {.summary = "Publish an event"}),
               bind(&booking_module::publish_event));
        r.get("/api/v1/events/{slug}/shows", {.summary = "An event's shows"},
              bind(&booking_module::list_shows));
        r.post("/api/v1/events/{slug}/shows",
               identity::require_roles(organizers, {.summary = "Add a show"}),
               bind(&booking_module::create_show));
        r.get("/api/v1/shows/{id}/zones", {.summary = "Zones with live availability"},
              bind(&booking_module::list_zones));
        r.post("/api/v1/shows/{id}/zones",
               identity::require_roles(organizers, {.summary = "Add a zone"}),
               bind(&booking_module::create_zone));
        r.post("/api/v1/bookings/reserve",
               identity::require_user({.idempotent = true,
                                       .idempotency_in_job = true,
                                       .rate_class = "reserve",
                                       .summary = "Hold seats (Idempotency-Key required)"}),
               bind(&booking_module::reserve));
        r.post("/api/v1/bookings/{id}/confirm",
               identity::require_user({.summary = "Confirm a held booking"}),
               bind(&booking_module::confirm));
        r.post("/api/v1/bookings/{id}/cancel",
               identity::require_user({.summary = "Cancel a booking"}),
               bind(&booking_module::cancel));
        r.get("/api/v1/bookings", identity::require_user({.summary = "The caller's bookings"}),
              bind(&booking_module::list_bookings));
        r.get("/api/v1/bookings/pending",
              identity::require_user({.summary = "The caller's held bookings"}),
              bind(&booking_module::list_pending));
        r.get("/api/v1/bookings/{id}",
              identity::require_user({.summary = "One of the caller's bookings"}),
              bind(&booking_module::get_booking));
        r.get("/api/v1/bookings/{id}/ticket",
              identity::require_user({.summary = "The e-ticket with its QR code"}),
              bind(&booking_module::get_ticket));
        r.post("/api/v1/tickets/verify",
               identity::require_roles(organizers, {.summary = "Check a ticket in at the door"}),
               bind(&booking_module::verify_ticket));
        r.put("/api/v1/shows/{id}/queue",
              identity::require_roles(organizers, {.summary = "Turn the waiting room on or off"}),
              bind(&booking_module::set_queue));
        r.post("/api/v1/queue/join",
               identity::require_user(
                   {.rate_class = "queue", .summary = "Join a show's waiting room"}),
               bind(&booking_module::join_queue));
        r.get("/api/v1/queue/status",
              identity::require_user(
                  {.rate_class = "queue", .summary = "Position, or the queue pass"}),
              bind(&booking_module::queue_status));
    }

    std::string tenant_of(const request& req) const {
        return req.caller ? req.caller->tenant : std::string("default");
    }

    // ---- events -----------------------------------------------------------------------------

    awaitable<response> list_events(request& req) {
        const auto paged = req.page();
        const auto page = paged.page, per_page = paged.per_page;
        const auto q = req.query_param("q");
        const auto category = req.query_param("category");
        sys_time from{}, to{};
        const auto from_s = req.query_param("from"), to_s = req.query_param("to");
        if ((from_s && !parse_rfc3339(*from_s, from)) || (to_s && !parse_rfc3339(*to_s, to)))
            co_return fail(
                req, error::validation(from_s && !parse_rfc3339(*from_s, from) ? "from" : "to",
                                       "must be an RFC 3339 time"));
        std::string where = "{tenant} AND status = 'published' AND deleted_ms IS NULL";
        if (q) where += " AND (title LIKE ?2 OR description LIKE ?2)";
        if (category) where += " AND category = ?3";
        if (from_s) where += " AND starts_ms >= ?4";
        if (to_s) where += " AND starts_ms <= ?5";
        struct page_t {
            std::vector<event_row> events;
            std::int64_t total = 0;
        };
        const std::string tenant = tenant_of(req);
        const std::string pattern = q ? "%" + *q + "%" : "";
        const std::string cat = category.value_or("");
        const auto from_ms = from.time_since_epoch().count(), to_ms = to.time_since_epoch().count();
        auto r = co_await ctx_.db.read<page_t>([=](db::connection& c) -> result<page_t> {
            page_t p;
            auto bind_filters = [&](db::statement& st) {
                if (q) st.bind(2, pattern);
                if (category) st.bind(3, cat);
                if (from_s) st.bind(4, from_ms);
                if (to_s) st.bind(5, to_ms);
            };
            identity::tenant_query count(c, tenant, "SELECT COUNT(*) FROM events WHERE " + where);
            bind_filters(count.stmt());
            count.stmt().step();
            p.total = count.stmt().int64(0);
            count.stmt().reset();
            identity::tenant_query list(c, tenant,
                                        std::string("SELECT ") + event_cols +
                                            " FROM events WHERE " + where +
                                            " ORDER BY starts_ms, id LIMIT ?6 OFFSET ?7");
            bind_filters(list.stmt());
            list.stmt().bind(6, per_page);
            list.stmt().bind(7, (page - 1) * per_page);
            while (list.stmt().step())
                p.events.push_back(read_event(list.stmt()));
            list.stmt().reset();
            return p;
        });
        if (!r.ok()) co_return fail(req, r.err());
        boost::json::array items;
        for (const auto& e : r->events)
            items.push_back(to_json(e));
        co_return response::list(items, page, per_page, r->total);
    }

    // An event by slug or id, visible to the caller: published ones to everyone, drafts to
    // their organizer and admins. Others get nullopt (404).
    awaitable<std::optional<event_row>> visible_event(const request& req, std::string key,
                                                      bool must_own) {
        auto r = co_await ctx_.db.read<std::optional<event_row>>(
            [key](db::connection& c) -> result<std::optional<event_row>> {
                return find_event(c, "slug = ?1 OR id = ?1", key);
            });
        if (!r.ok() || !*r) co_return std::nullopt;
        const event_row& e = **r;
        if (e.deleted) co_return std::nullopt;
        const bool owner = req.caller && identity::owns_or_admin(req, e.organizer_id);
        if (must_own && !owner) co_return std::nullopt;
        if (e.status != "published" && !owner) co_return std::nullopt;
        if (e.tenant_id != tenant_of(req) && !(req.caller && req.caller->has_role("admin")))
            co_return std::nullopt;
        co_return std::move(*r);
    }

    // Anyone may read, but an organizer's token lets them see their drafts.
    void optional_caller(request& req) const {
        if (!req.caller && !req.header("Authorization").empty() && ctx_.router.auth()) {
            if (auto who = ctx_.router.auth()(req); who.ok()) req.caller = *who;
        }
    }

    awaitable<response> get_event(request& req) {
        optional_caller(req);
        auto e = co_await visible_event(req, std::string(req.param("slug")), false);
        if (!e) co_return fail(req, error::not_found("no such event"));
        auto shows = co_await ctx_.db.read<std::vector<show_row>>(
            [id = e->id](db::connection& c) -> result<std::vector<show_row>> {
                return find_shows(c, id);
            });
        if (!shows.ok()) co_return fail(req, shows.err());
        auto out = to_json(*e);
        boost::json::array arr;
        for (const auto& s : *shows)
            arr.push_back(to_json(s));
        out["shows"] = std::move(arr);
        co_return response::ok(out);
    }

    struct event_fields {
        std::optional<std::string> title, description, category, venue, currency;
        std::optional<std::int64_t> starts_ms, sale_starts_ms, max_per_user;
    };

    // Parses the writable fields; on create the required ones must be present.
    result<event_fields> parse_event(const request& req, bool create) {
        auto body = req.json();
        if (!body.ok()) return body.err();
        json::fields f(*body);
        event_fields out;
        out.title = create ? f.required_string("title", 1, 200) : f.optional_string("title", 200);
        out.description = f.optional_string("description", 10000);
        out.category = f.optional_string("category", 60);
        out.venue = f.optional_string("venue", 200);
        out.currency = f.optional_string("currency", 3);
        out.max_per_user = create ? f.required_int("max_per_user", 1, 100000)
                                  : f.optional_int("max_per_user", 1, 100000);
        for (auto [key, slot] : {std::pair{"starts_at", &out.starts_ms},
                                 std::pair{"sale_starts_at", &out.sale_starts_ms}}) {
            auto text = create ? f.required_string(key, 1, 64) : f.optional_string(key, 64);
            if (!text) continue;
            sys_time t;
            if (!parse_rfc3339(*text, t))
                f.fail(key, "must be an RFC 3339 time");
            else
                *slot = t.time_since_epoch().count();
        }
        if (out.title && out.title->empty()) f.fail("title", "must not be empty");
        if (out.currency && out.currency->size() != 3)
            f.fail("currency", "must be a 3-letter code");
        if (out.starts_ms && out.sale_starts_ms && *out.sale_starts_ms > *out.starts_ms)
            f.fail("sale_starts_at", "must not be after starts_at");
        if (auto s = f.check(); !s.ok()) return s.err();
        return out;
    }

    awaitable<response> create_event(request& req) {
        auto fields = parse_event(req, true);
        if (!fields.ok()) co_return fail(req, fields.err());
        event_row e;
        e.id = new_id("evt");
        e.tenant_id = req.caller->tenant;
        e.organizer_id = req.caller->user_id;
        e.title = *fields->title;
        e.description = fields->description.value_or("");
        e.category = fields->category.value_or("");
        e.venue = fields->venue.value_or("");
        e.currency = fields->currency.value_or(default_currency_);
        e.status = "draft";
        e.starts_ms = *fields->starts_ms;
        e.sale_starts_ms = *fields->sale_starts_ms;
        e.max_per_user = *fields->max_per_user;
        e.created_ms = ctx_.clock.now_ms();
        auto r = co_await ctx_.db.writer().write<event_row>([e](db::tx& t) mutable
                                                            -> result<event_row> {
            const std::string base = slugify(e.title);
            e.slug = base;
            for (int n = 2;; ++n) {
                auto& st = t.prepare("SELECT 1 FROM events WHERE slug = ?");
                st.bind(1, e.slug);
                const bool taken = st.step();
                st.reset();
                if (!taken) break;
                e.slug = base + "-" + std::to_string(n);
            }
            t.prepare(
                 "INSERT INTO events (id, tenant_id, organizer_id, slug, title, description, "
                 "category, "
                 "venue, starts_ms, sale_starts_ms, max_per_user, currency, status, created_ms, "
                 "updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?)")
                .bind_all(e.id, e.tenant_id, e.organizer_id, e.slug, e.title, e.description,
                          e.category, e.venue, e.starts_ms, e.sale_starts_ms, e.max_per_user,
                          e.currency, e.created_ms, e.created_ms)
                .run();
            t.publish("booking.event_created",
                      {{"event_id", e.id}, {"organizer_id", e.organizer_id}});
            return e;
        });
        if (!r.ok()) co_return fail(req, r.err());
        co_return response::ok(to_json(*r), 201);
    }

    awaitable<response> update_event(request& req) {
        auto e = co_await visible_event(req, std::string(req.param("slug")), true);
        if (!e) co_return fail(req, error::not_found("no such event"));
        auto fields = parse_event(req, false);
        if (!fields.ok()) co_return fail(req, fields.err());
        const auto& f = *fields;
        event_row u = *e;
        if (f.title) u.title = *f.title;
        if (f.description) u.description = *f.description;
        if (f.category) u.category = *f.category;
        if (f.venue) u.venue = *f.venue;
        if (f.currency) u.currency = *f.currency;
        if (f.starts_ms) u.starts_ms = *f.starts_ms;
        if (f.sale_starts_ms) u.sale_starts_ms = *f.sale_starts_ms;
        if (f.max_per_user) u.max_per_user = *f.max_per_user;
        if (u.sale_starts_ms > u.starts_ms)
            co_return fail(req, error::validation("sale_starts_at", "must not be after starts_at"));
        auto audit = audit_of(req, "booking.event_updated", u.id);
        auto r = co_await ctx_.db.writer().write<bool>([u, audit](db::tx& t) -> result<bool> {
            t.prepare(
                 "UPDATE events SET title = ?, description = ?, category = ?, venue = ?, currency "
                 "= ?, "
                 "starts_ms = ?, sale_starts_ms = ?, max_per_user = ?, updated_ms = ? WHERE id = ?")
                .bind_all(u.title, u.description, u.category, u.venue, u.currency, u.starts_ms,
                          u.sale_starts_ms, u.max_per_user, t.now_ms(), u.id)
                .run();
            t.audit(audit);
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        catalog_.update_event_shows(u.id, [&](show_info& s) {
            s.sale_starts_ms = u.sale_starts_ms;
            s.max_per_user = u.max_per_user;
        });
        co_return response::ok(to_json(u));
    }

    static db::audit_entry audit_of(const request& req, std::string action, std::string event_id) {
        return http::audit_of(req, std::move(action), "event", std::move(event_id));
    }

    // Delete and publish: the owner's event, one audited write, the catalog updated after it.
    awaitable<result<event_row>> change_event(
        request& req, std::string action, std::function<void(db::tx&, const std::string&)> write,
        std::function<void(show_info&)> in_catalog) {
        auto e = co_await visible_event(req, std::string(req.param("slug")), true);
        if (!e) co_return error::not_found("no such event");
        auto audit = audit_of(req, std::move(action), e->id);
        auto r = co_await ctx_.db.writer().write<bool>(
            [id = e->id, audit, write](db::tx& t) -> result<bool> {
                write(t, id);
                t.audit(audit);
                return true;
            });
        if (!r.ok()) co_return r.err();
        catalog_.update_event_shows(e->id, in_catalog);
        co_return std::move(*e);
    }

    awaitable<response> delete_event(request& req) {
        auto e = co_await change_event(
            req, "booking.event_deleted",
            [](db::tx& t, const std::string& id) {
                t.prepare("UPDATE events SET deleted_ms = ?1, updated_ms = ?1 WHERE id = ?2")
                    .bind_all(t.now_ms(), id)
                    .run();
            },
            [](show_info& s) { s.deleted = true; });
        if (!e.ok()) co_return fail(req, e.err());
        co_return response::ok(boost::json::object{{"id", e->id}, {"deleted", true}});
    }

    awaitable<response> publish_event(request& req) {
        auto e = co_await change_event(
            req, "booking.event_published",
            [](db::tx& t, const std::string& id) {
                t.prepare("UPDATE events SET status = 'published', updated_ms = ? WHERE id = ?")
                    .bind_all(t.now_ms(), id)
                    .run();
                t.publish("booking.event_published", {{"event_id", id}});
            },
            [](show_info& s) { s.published = true; });
        if (!e.ok()) co_return fail(req, e.err());
        e->status = "published";
        co_return response::ok(to_json(*e));
    }

    // ---- shows and zones --------------------------------------------------------------------

    awaitable<response> list_shows(request& req) {
        optional_caller(req);
        auto e = co_await visible_event(req, std::string(req.param("slug")), false);
        if (!e) co_return fail(req, error::not_found("no such event"));
        auto shows = co_await ctx_.db.read<std::vector<show_row>>(
            [id = e->id](db::connection& c) -> result<std::vector<show_row>> {
                return find_shows(c, id);
            });
        if (!shows.ok()) co_return fail(req, shows.err());
        boost::json::array arr;
        for (const auto& s : *shows)
            arr.push_back(to_json(s));
        co_return response::ok(arr);
    }

    awaitable<response> create_show(request& req) {
        auto e = co_await visible_event(req, std::string(req.param("slug")), true);
        if (!e) co_return fail(req, error::not_found("no such event"));
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto starts = f.required_string("starts_at", 1, 64);
        auto ends = f.required_string("ends_at", 1, 64);
        sys_time st{}, en{};
        if (starts && !parse_rfc3339(*starts, st)) f.fail("starts_at", "must be an RFC 3339 time");
        if (ends && !parse_rfc3339(*ends, en)) f.fail("ends_at", "must be an RFC 3339 time");
        if (starts && ends && en < st) f.fail("ends_at", "must not be before starts_at");
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        show_row s{
            new_id("shw"), e->id, st.time_since_epoch().count(), en.time_since_epoch().count(), 60,
            false};
        auto r = co_await ctx_.db.writer().write<bool>([s](db::tx& t) -> result<bool> {
            t.prepare(
                 "INSERT INTO shows (id, event_id, starts_ms, ends_ms, created_ms) VALUES (?, ?, "
                 "?, ?, ?)")
                .bind_all(s.id, s.event_id, s.starts_ms, s.ends_ms, t.now_ms())
                .run();
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        catalog_.put_show(show_info{s.id, e->id, e->tenant_id, e->organizer_id, e->sale_starts_ms,
                                    e->max_per_user, e->status == "published", false, false, 60});
        co_return response::ok(to_json(s), 201);
    }

    awaitable<response> list_zones(request& req) {
        const std::string show_id(req.param("id"));
        optional_caller(req);
        auto show = catalog_.show(show_id);
        if (!show || show->deleted) co_return fail(req, error::not_found("no such show"));
        if (!show->published && !(req.caller && identity::owns_or_admin(req, show->organizer_id)))
            co_return fail(req, error::not_found("no such show"));
        auto zones = co_await ctx_.db.read<std::vector<zone_row>>(
            [show_id](db::connection& c) -> result<std::vector<zone_row>> {
                auto& st = c.prepare(
                    "SELECT id, show_id, event_id, name, currency, price_amount, capacity FROM "
                    "zones WHERE show_id = ? ORDER BY created_ms, id");
                st.bind(1, show_id);
                std::vector<zone_row> out;
                while (st.step())
                    out.push_back({st.text(0), st.text(1), st.text(2), st.text(3), st.text(4),
                                   st.int64(5), st.int64(6)});
                st.reset();
                return out;
            });
        if (!zones.ok()) co_return fail(req, zones.err());
        // Availability is live: read from the shard that owns the event.
        auto ids = std::make_shared<std::vector<std::string>>();
        for (const auto& z : *zones)
            ids->push_back(z.id);
        auto available = co_await ctx_.inventory.run_on(
            show->event_id, [ids](shard& s) -> awaitable<std::vector<std::int64_t>> {
                std::vector<std::int64_t> out;
                for (const auto& id : *ids) {
                    const auto* r = s.resource(id);
                    out.push_back(r ? r->available() : 0);
                }
                co_return out;
            });
        boost::json::array arr;
        for (std::size_t i = 0; i < zones->size(); ++i) {
            const auto& z = (*zones)[i];
            arr.push_back({{"id", z.id},
                           {"show_id", z.show_id},
                           {"name", z.name},
                           {"price", json::money(z.price_amount, z.currency)},
                           {"capacity", z.capacity},
                           {"available", available[i]}});
        }
        co_return response::ok(arr);
    }

    awaitable<response> create_zone(request& req) {
        const std::string show_id(req.param("id"));
        auto show = catalog_.show(show_id);
        if (!show || show->deleted || !identity::owns_or_admin(req, show->organizer_id))
            co_return fail(req, error::not_found("no such show"));
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto name = f.required_string("name", 1, 100);
        auto capacity = f.required_int("capacity", 1, 10'000'000);
        // price: {"amount": 2500, "currency": "USD"} or a plain amount in minor units.
        std::optional<std::int64_t> amount;
        std::string currency = default_currency_;
        const auto* price = body->is_object() ? body->get_object().if_contains("price") : nullptr;
        if (price && price->is_object()) {
            json::fields pf(*price);
            amount = pf.required_int("amount", 0, 100'000'000'00);
            if (auto c = pf.optional_string("currency", 3)) currency = *c;
            if (!pf.check().ok() || currency.size() != 3)
                f.fail("price", "must be {amount >= 0, currency}");
        } else {
            amount = f.required_int("price", 0, 100'000'000'00);
        }
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        zone_row z{new_id("zon"), show_id, show->event_id, *name, currency, *amount, *capacity};
        auto r = co_await ctx_.db.writer().write<bool>([z](db::tx& t) -> result<bool> {
            t.prepare(
                 "INSERT INTO zones (id, show_id, event_id, name, price_amount, currency, "
                 "capacity, created_ms) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind_all(z.id, z.show_id, z.event_id, z.name, z.price_amount, z.currency,
                          z.capacity, t.now_ms())
                .run();
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        catalog_.put_zone({z.id, z.show_id, z.event_id, z.price_amount, z.currency});
        co_await ctx_.inventory.run_on(z.event_id, [z](shard& s) -> awaitable<bool> {
            s.set_resource(z.id, z.capacity);
            co_return true;
        });
        co_return response::ok(
            boost::json::object{{"id", z.id},
                                {"show_id", z.show_id},
                                {"name", z.name},
                                {"price", json::money(z.price_amount, z.currency)},
                                {"capacity", z.capacity},
                                {"available", z.capacity}},
            201);
    }

    // ---- reservations -----------------------------------------------------------------------

    // Every answer that gets stored under the caller's key is in reserve_keys_: the one the
    // reservation's job records (noted after its commit), and the ones without an effect that
    // the idempotency middleware stores after this returns (noted here, before it does).
    awaitable<response> reserve(request& req) {
        response res = co_await reserve_once(req);
        if (req.idempotency && !req.idempotency->recorded && res.status < 500)
            reserve_keys_.note(*req.idempotency);
        co_return res;
    }

    awaitable<response> reserve_once(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto show_id = f.required_string("show_id", 1, 64);
        auto zone_id = f.required_string("zone_id", 1, 64);
        auto quantity = f.required_int("quantity", 1, quantity_max_);
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        auto show = catalog_.show(*show_id);
        auto zone = catalog_.zone(*zone_id);
        if (!show || show->deleted || !show->published || show->tenant_id != req.caller->tenant)
            co_return fail(req, error::not_found("no such show"));
        if (!zone || zone->show_id != show->id)
            co_return fail(req, error::not_found("no such zone in this show"));
        const auto now = ctx_.clock.now_ms();
        if (now < show->sale_starts_ms)
            co_return co_await refuse(
                req, error::conflict("SALE_NOT_OPEN",
                                     "sales open at " + format_rfc3339_ms(show->sale_starts_ms)));
        if (show->queue_enabled && !queue_pass_ok(req, *show))
            co_return co_await refuse(
                req, error{403, "QUEUE_PASS_REQUIRED", "join the waiting room first"});

        booking_row b;
        b.id = new_id("bkg");
        b.tenant_id = req.caller->tenant;
        b.user_id = req.caller->user_id;
        b.event_id = show->event_id;
        b.show_id = show->id;
        b.zone_id = zone->id;
        b.quantity = *quantity;
        b.amount = zone->price_amount * *quantity;
        b.currency = zone->currency;
        b.status = "reserved";
        b.created_ms = now;
        b.expires_ms = now + hold_ms_;
        // The shard's step and the job use this frame's b, ticket and step, which waits for the
        // job to complete (after its last run: a failed batch runs it again alone).
        const http::idempotency_ticket& ticket = *req.idempotency;
        reserve_step step{b, ticket, show->max_per_user,
                          // Only a key that may have a stored answer is looked up in the job (the
                          // middleware lets one request per key run at a time, and every stored
                          // key is noted before it answers).
                          reserve_keys_.may_have(ticket)};
        shard& owner = ctx_.inventory.for_partition(b.event_id);
        auto outcome = co_await inventory::engine::start_on<result<reserve_outcome>>(
            owner,
            [this, &step](shard& s, auto handler) { hold_and_write(s, step, std::move(handler)); });
        const bool held = step.held;
        if (held && (!outcome.ok() || outcome->replayed)) {
            // Nothing new was written (failed commit, or a replay): the seats go back.
            co_await ctx_.inventory.run_on(owner, [&b](shard& s) -> awaitable<bool> {
                s.undo_hold(b.id);
                co_return true;
            });
            if (!outcome.ok() && outcome.err().status >= 500)
                outcome = error::unavailable("could not save the reservation; try again");
        }
        if (!outcome.ok()) {
            if (!held && outcome.err().status == 409)
                co_return co_await refuse(req, outcome.err(), step.maybe_stored);
            co_return fail(req, outcome.err());
        }
        req.idempotency->recorded = true;
        if (!outcome->replayed) {
            reserve_keys_.note(ticket);
            outcome->body = created_body(b);
            owners_.add({std::move(b.user_id), ticket.key, std::move(b.id)});  // b's last use
        }
        response res = response::raw(outcome->status, std::move(outcome->content_type),
                                     std::move(outcome->body));
        if (outcome->replayed) res.set_header("Idempotent-Replayed", "true");
        co_return res;
    }

    // A refusal before any seat is taken (sold out, over the limit, sale not open, no queue
    // pass). A retry of a request that took effect can meet one (its own seats sold the zone
    // out or count against the caller's limit; its pass has run out since): its stored answer
    // wins. Only keys that may have one are looked up: a sold-out rush of fresh requests is
    // answered from memory alone. The refusal took no effect and is not remembered (no write per
    // sold-out answer): a retry with this key is evaluated afresh (docs/decisions/0004) — once
    // the sale opens, or with a pass.
    // `maybe_stored`: what reserve_keys_ said of the key, when the caller has asked already.
    awaitable<response> refuse(request& req, const error& e,
                               std::optional<bool> maybe_stored = std::nullopt) {
        const http::idempotency_ticket& ticket = *req.idempotency;
        if (maybe_stored ? *maybe_stored : reserve_keys_.may_have(ticket)) {
            auto stored = co_await ctx_.db.read<std::optional<http::stored_response>>(
                [ticket, now = ctx_.clock.now_ms(),
                 pending = owners_.pending_ids(ticket.caller, ticket.key)](
                    db::connection& c) -> result<std::optional<http::stored_response>> {
                    return reserve_lookup(c, ticket, pending, now);
                });
            if (stored.ok() && *stored) {
                req.idempotency->recorded = true;
                co_return http::idempotency_replay(**stored, ticket, req.request_id);
            }
        }
        req.idempotency->recorded = true;
        co_return fail(req, e);
    }

    // A reservation's step on its shard, in reserve_once's frame: what it reads, and what it
    // leaves for the job and the caller (set on the shard, read after the handler's post back).
    struct reserve_step {
        const booking_row& b;
        const http::idempotency_ticket& ticket;
        const std::int64_t limit;
        const bool maybe_stored;
        bool held = false;
        // booking.created's payload, made once the seats are taken: a refusal does not pay for
        // it, nor does the writer's thread.
        std::string event;
    };

    // On the event's shard: take the seats and queue the write; the handler is answered by the
    // writer after the commit, on the caller's executor (engine::start_on). The hold's expiry is
    // armed now, before the commit: an expiry's write queues behind this one (the writer is
    // FIFO), and one that fires first finds the row there.
    template <class Handler>
    void hold_and_write(shard& s, reserve_step& step, Handler handler) {
        const booking_row& b = step.b;
        const inventory::hold_request h{b.id,      b.zone_id,  b.quantity,
                                        b.user_id, b.event_id, b.expires_ms};
        const auto refused = s.try_hold(h, step.limit);
        if (refused != inventory::refusal::none) {
            inventory::complete_later(std::move(handler),
                                      result<reserve_outcome>(refusal_error(refused)));
            return;
        }
        step.held = true;
        s.schedule_expiry(b.id, b.expires_ms);
        step.event = event_payload_json(b);
        ctx_.db.writer().write_then<reserve_outcome>(
            [this, &step](db::tx& t) -> result<reserve_outcome> { return write_booking(t, step); },
            std::move(handler));
    }

    static error refusal_error(inventory::refusal r) {
        switch (r) {
            case inventory::refusal::insufficient:
                return error::conflict("INSUFFICIENT_STOCK", "not enough seats left in this zone");
            case inventory::refusal::limit_exceeded:
                return error::conflict("USER_LIMIT_EXCEEDED",
                                       "this would exceed the per-person limit for the event");
            default:
                return error::not_found("no such zone");
        }
    }

    // The reservation's job: the row (with the key and request hash: it is the stored answer,
    // see reserve_lookup), the zone's counters, the event — or, for a retry of a request that
    // already took effect, the answer the first one got. The body comes after the commit.
    result<reserve_outcome> write_booking(db::tx& t, const reserve_step& step) {
        const booking_row& b = step.b;
        const http::idempotency_ticket& ticket = step.ticket;
        if (auto stored =
                step.maybe_stored
                    ? reserve_lookup(t.conn(), ticket,
                                     owners_.pending_ids(ticket.caller, ticket.key), t.now_ms())
                    : std::nullopt) {
            if (stored->request_hash != ticket.request_hash)
                return error{422, "IDEMPOTENCY_KEY_REUSED",
                             "this Idempotency-Key was used with another request"};
            return reserve_outcome{stored->status, stored->body, stored->content_type, true};
        }
        t.prepare(
             "INSERT INTO bookings (id, tenant_id, user_id, event_id, show_id, zone_id, "
             "quantity, amount, currency, status, expires_ms, created_ms, updated_ms, "
             "idem_key, request_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, "
             "?, ?)")
            .run_with(b.id, b.tenant_id, b.user_id, b.event_id, b.show_id, b.zone_id, b.quantity,
                      b.amount, b.currency, b.expires_ms, b.created_ms, b.created_ms, ticket.key,
                      ticket.request_hash);
        move_seats(t, b.zone_id, b.quantity, 0);
        t.publish_json("booking.created", step.event);
        return reserve_outcome{201, {}, "application/json", false};
    }

    bool queue_pass_ok(const request& req, const show_info& show) const {
        return queue_pass_valid(ctx_.secrets.ticket_key, req.header("X-Queue-Pass"),
                                req.caller->user_id, show.id, ctx_.clock.now_ms());
    }

    // The caller's booking, or nullopt (someone else's is 404 too).
    awaitable<std::optional<booking_row>> own_booking(const request& req) {
        auto r = co_await ctx_.db.read<std::optional<booking_row>>(
            [id = std::string(req.param("id"))](db::connection& c)
                -> result<std::optional<booking_row>> { return find_booking(c, id); });
        if (!r.ok() || !*r || (*r)->user_id != req.caller->user_id) co_return std::nullopt;
        co_return std::move(*r);
    }

    using shard_step = awaitable<result<std::string>> (booking_module::*)(shard&, booking_row);

    // Confirm and cancel: the caller's booking, one step on its event's shard, the new status.
    awaitable<response> step_own_booking(request& req, shard_step step) {
        auto b = co_await own_booking(req);
        if (!b) co_return fail(req, error::not_found("no such booking"));
        auto r = co_await ctx_.inventory.run_on(
            b->event_id, [this, b = *b, step](shard& s) -> awaitable<result<std::string>> {
                co_return co_await (this->*step)(s, b);
            });
        if (!r.ok()) co_return fail(req, r.err());
        b->status = *r;
        co_return response::ok(to_json(*b));
    }

    awaitable<response> confirm(request& req) {
        co_return co_await step_own_booking(req, &booking_module::confirm_on_shard);
    }

    awaitable<result<std::string>> confirm_on_shard(shard& s, booking_row b) {
        std::string payment_id;
        if (const auto* held = s.find(b.id);
            b.amount > 0 && held && held->state == inventory::hold_state::held) {
            // Paid while `payment.succeeded` is still on its way to us: confirmed now. The read
            // lets the shard run other work; the checks below see the hold as it is after it.
            auto paid = co_await succeeded_payment(b.id);
            if (!paid.ok()) co_return paid.err();
            payment_id = paid->value_or("");
        }
        const auto* h = s.find(b.id);
        if (!h) {
            // Not live in memory: the database has the final word, once an expiry or cancel that
            // left memory is written; reading through the (FIFO) writer waits for it.
            auto now = co_await ctx_.db.writer().write<std::optional<booking_row>>(
                [id = b.id](db::tx& t) -> result<std::optional<booking_row>> {
                    return find_booking(t.conn(), id);
                });
            const std::string status = now.ok() && *now ? (*now)->status : b.status;
            if (status == "confirmed") co_return status;
            if (status == "expired")
                co_return error{410, "RESERVATION_EXPIRED", "the hold expired; reserve again"};
            co_return error::conflict("INVALID_STATE", "the booking is " + status);
        }
        if (h->state == inventory::hold_state::posted) co_return std::string("confirmed");
        if (h->expires_ms <= ctx_.clock.now_ms()) {
            co_await expire_hold(s, b.id);
            co_return error{410, "RESERVATION_EXPIRED", "the hold expired; reserve again"};
        }
        if (b.amount > 0 && payment_id.empty())
            co_return error::conflict("PAYMENT_REQUIRED", "pay for this booking to confirm it");
        auto posted = co_await post_and_confirm(s, b, payment_id);
        if (!posted.ok()) co_return posted.err();
        co_return std::string("confirmed");
    }

    awaitable<result<std::optional<std::string>>> succeeded_payment(std::string booking_id) {
        co_return co_await ctx_.db.read<std::optional<std::string>>(
            [id = std::move(booking_id)](db::connection& c) -> result<std::optional<std::string>> {
                const auto& find = installed_payment_finder();
                if (!find) return std::optional<std::string>();
                return find(c, id);
            });
    }

    // Posts the held seats and writes the confirmation with its ticket; undone in memory when
    // the commit fails.
    awaitable<status> post_and_confirm(shard& s, const booking_row& b, std::string payment_id) {
        s.post(b.id);
        auto w = co_await ctx_.db.writer().write<bool>(
            [b, payment_id, key = ctx_.secrets.ticket_key](db::tx& t) -> result<bool> {
                t.prepare(
                     "UPDATE bookings SET status = 'confirmed', updated_ms = ? WHERE id = ? AND "
                     "status = 'reserved'")
                    .bind_all(t.now_ms(), b.id)
                    .run();
                if (t.conn().changes() != 1)
                    return error::conflict("INVALID_STATE", "the booking is no longer held");
                move_seats(t, b.zone_id, -b.quantity, b.quantity);
                auto payload = event_payload(b);
                if (!payment_id.empty()) payload["payment_id"] = payment_id;
                t.publish("booking.confirmed", payload);
                t.publish("ticket.issued", {{"booking_id", b.id},
                                            {"user_id", b.user_id},
                                            {"event_id", b.event_id},
                                            {"ticket_id", sign_ticket(key, b.id)}});
                return true;
            });
        if (!w.ok()) {
            if (const auto* still = s.find(b.id);
                still && still->state == inventory::hold_state::posted)
                s.unpost(b.id);
            co_return w.err().status >= 500 ? error::unavailable() : w.err();
        }
        co_return status{};
    }

    // ---- payments (events from the payouts module) --------------------------------------------

    void subscribe_to_payments() {
        auto on = [this](const char* type, const char* name,
                         awaitable<status> (booking_module::*fn)(shard&, booking_row,
                                                                 const bus::event&)) {
            ctx_.bus.subscribe(type, name, [this, fn](const bus::event& e) -> awaitable<status> {
                const auto* id = e.payload.as_object().if_contains("booking_id");
                if (!id || !id->is_string()) co_return status{};
                auto b = co_await ctx_.db.read<std::optional<booking_row>>(
                    [id = std::string(id->get_string())](db::connection& c)
                        -> result<std::optional<booking_row>> { return find_booking(c, id); });
                if (!b.ok()) co_return b.err();
                if (!*b) co_return status{};  // not ours to worry about
                co_return co_await ctx_.inventory.run_on(
                    (*b)->event_id, [this, fn, b = **b, &e](shard& s) -> awaitable<status> {
                        co_return co_await (this->*fn)(s, b, e);
                    });
            });
        };
        on("payment.succeeded", "booking.confirm_paid", &booking_module::on_payment_succeeded);
        on("payment.failed", "booking.release_unpaid", &booking_module::on_payment_failed);
        on("payment.refunded", "booking.refund_paid", &booking_module::on_payment_refunded);
    }

    static std::string payment_of(const bus::event& e) {
        const auto* p = e.payload.as_object().if_contains("payment_id");
        return p && p->is_string() ? std::string(p->get_string()) : std::string();
    }

    // Paid: the held seats are confirmed; a hold that is gone (expired, cancelled) cannot be,
    // and payments is told so that it refunds.
    awaitable<status> on_payment_succeeded(shard& s, booking_row b, const bus::event& e) {
        const auto* h = s.find(b.id);
        if (h && h->state == inventory::hold_state::posted) co_return status{};  // redelivery
        if (h && h->expires_ms > ctx_.clock.now_ms()) {
            auto r = co_await post_and_confirm(s, b, payment_of(e));
            if (r.ok() || r.err().status >= 500) co_return r;  // 5xx: delivered again later
        } else if (h) {
            co_await expire_hold(s, b.id);
        }
        auto w = co_await ctx_.db.writer().write<bool>(
            [b, e, payment = payment_of(e)](db::tx& t) -> result<bool> {
                const auto now = find_booking(t.conn(), b.id);
                if (!now || now->status == "confirmed") return true;
                if (!t.first_delivery("booking.confirm_paid", e.id)) return true;
                t.publish("booking.payment_unmatched", {{"booking_id", b.id},
                                                        {"payment_id", payment},
                                                        {"user_id", b.user_id},
                                                        {"status", now->status}});
                return true;
            });
        co_return w.ok() ? status{} : status(w.err());
    }

    // Declined: the seats go back at once.
    awaitable<status> on_payment_failed(shard& s, booking_row b, const bus::event&) {
        const auto* h = s.find(b.id);
        if (!h || h->state != inventory::hold_state::held) co_return status{};
        auto r = co_await cancel_on_shard(s, b);
        if (!r.ok() && r.err().status >= 500) co_return r.err();
        co_return status{};
    }

    // Refunded in full: the booking is refunded and its seats return to sale.
    awaitable<status> on_payment_refunded(shard& s, booking_row b, const bus::event& e) {
        const auto* full = e.payload.as_object().if_contains("full");
        if (!full || !full->is_bool() || !full->get_bool()) co_return status{};
        const auto* h = s.find(b.id);
        if (!h || h->state != inventory::hold_state::posted) co_return status{};
        const auto was = s.void_hold(b.id);
        auto w = co_await ctx_.db.writer().write<bool>([b](db::tx& t) -> result<bool> {
            t.prepare(
                 "UPDATE bookings SET status = 'refunded', updated_ms = ? WHERE id = ? AND status "
                 "= 'confirmed'")
                .bind_all(t.now_ms(), b.id)
                .run();
            if (t.conn().changes() != 1) return true;
            move_seats(t, b.zone_id, 0, -b.quantity);
            t.publish("booking.refunded", event_payload(b));
            return true;
        });
        if (!w.ok()) {
            s.restore_hold(*was);
            co_return w.err();
        }
        co_return status{};
    }

    awaitable<response> cancel(request& req) {
        co_return co_await step_own_booking(req, &booking_module::cancel_on_shard);
    }

    awaitable<result<std::string>> cancel_on_shard(shard& s, booking_row b) {
        const auto* h = s.find(b.id);
        if (!h) co_return error::conflict("INVALID_STATE", "the booking is " + b.status);
        if (h->state == inventory::hold_state::posted && b.amount > 0) {
            // Paid: refunded in full by payments (booking.cancelled says it was paid), until the
            // cut-off before the show.
            auto starts = co_await ctx_.db.read<std::int64_t>(
                [sid = b.show_id](db::connection& c) -> result<std::int64_t> {
                    auto& st = c.prepare("SELECT starts_ms FROM shows WHERE id = ?");
                    st.bind(1, sid);
                    const std::int64_t v = st.step() ? st.int64(0) : 0;
                    st.reset();
                    return v;
                });
            if (!starts.ok()) co_return error::unavailable();
            if (ctx_.clock.now_ms() > *starts - cancel_cutoff_ms_)
                co_return error::conflict("INVALID_STATE",
                                          "paid bookings can be cancelled until " +
                                              std::to_string(cancel_cutoff_ms_ / 3'600'000) +
                                              " hours before the show");
        }
        const auto was = s.void_hold(b.id);
        // A posted hold's confirm may still be on its way to SQLite, and may fail: cancel what
        // SQLite has when this job runs (after that confirm, the writer being FIFO).
        auto w = co_await ctx_.db.writer().write<bool>([b](db::tx& t) -> result<bool> {
            const auto now = find_booking(t.conn(), b.id);
            const std::string status = now ? now->status : "";
            if (status != "reserved" && status != "confirmed")
                return error::conflict("INVALID_STATE", "the booking is " + status);
            const bool was_held = status == "reserved";
            t.prepare(
                 "UPDATE bookings SET status = 'cancelled', updated_ms = ? WHERE id = ? AND status "
                 "= ?")
                .bind_all(t.now_ms(), b.id, status)
                .run();
            move_seats(t, b.zone_id, was_held ? -b.quantity : 0, was_held ? 0 : -b.quantity);
            auto payload = event_payload(b);
            payload["was"] = status;
            payload["paid"] = !was_held && b.amount > 0;  // payments refunds it
            t.publish("booking.cancelled", payload);
            return true;
        });
        if (!w.ok()) {
            // Back as SQLite has it: posted only if its confirm landed.
            inventory::hold back = *was;
            if (back.state == inventory::hold_state::posted) {
                auto now = co_await ctx_.db.read<std::optional<booking_row>>(
                    [id = b.id](db::connection& c) -> result<std::optional<booking_row>> {
                        return find_booking(c, id);
                    });
                if (now.ok() && *now && (*now)->status == "reserved")
                    back.state = inventory::hold_state::held;
            }
            s.restore_hold(back);
            co_return w.err().status >= 500 ? error::unavailable() : w.err();
        }
        co_return std::string("cancelled");
    }

    // On the shard: the hold's time is up. Seats return, the row becomes expired.
    awaitable<void> expire_hold(shard& s, std::string id) {
        const auto was = s.expire(id);
        if (!was) co_return;
        // The payload names what booking.created named (zones never move between shows, and
        // their prices do not change).
        boost::json::object payload{{"booking_id", was->id},
                                    {"user_id", was->owner},
                                    {"event_id", was->group},
                                    {"zone_id", was->resource},
                                    {"quantity", was->quantity}};
        if (const auto z = catalog_.zone(was->resource)) {
            payload["show_id"] = z->show_id;
            payload["amount"] = json::money(z->price_amount * was->quantity, z->currency);
        }
        auto w = co_await ctx_.db.writer().write<bool>(
            [h = *was, payload = std::move(payload)](db::tx& t) -> result<bool> {
                t.prepare(
                     "UPDATE bookings SET status = 'expired', updated_ms = ? WHERE id = ? AND "
                     "status = 'reserved'")
                    .bind_all(t.now_ms(), h.id)
                    .run();
                if (t.conn().changes() != 1) return true;  // already settled by a racing write
                move_seats(t, h.resource, -h.quantity, 0);
                t.publish("booking.expired", payload);
                return true;
            });
        if (!w.ok()) {
            // Storage trouble: keep the seats held and try again shortly.
            s.restore_hold(*was);
            s.schedule_expiry(was->id, ctx_.clock.now_ms() + 1000);
        }
    }

    // ---- the virtual waiting room ------------------------------------------------------------

    awaitable<response> set_queue(request& req) {
        const std::string show_id(req.param("id"));
        auto show = catalog_.show(show_id);
        if (!show || show->deleted || !identity::owns_or_admin(req, show->organizer_id))
            co_return fail(req, error::not_found("no such show"));
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto enabled = f.optional_bool("enabled");
        auto rate = f.optional_int("admit_per_minute", 1, 1'000'000);
        if (!enabled) f.fail("enabled", "is required");
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());
        const std::int64_t admit = rate.value_or(show->admit_per_minute);
        auto audit = audit_of(req, "booking.queue_changed", show->event_id);
        audit.details = {{"show_id", show_id}, {"enabled", *enabled}, {"admit_per_minute", admit}};
        auto r = co_await ctx_.db.writer().write<show_row>(
            [show_id, on = *enabled, admit, audit](db::tx& t) -> result<show_row> {
                t.prepare("UPDATE shows SET queue_enabled = ?, admit_per_minute = ? WHERE id = ?")
                    .bind_all(std::int64_t{on}, admit, show_id)
                    .run();
                t.audit(audit);
                auto& st = t.prepare(
                    "SELECT id, event_id, starts_ms, ends_ms, admit_per_minute, queue_enabled FROM "
                    "shows WHERE id = ?");
                st.bind(1, show_id);
                st.step();
                show_row out{st.text(0),  st.text(1),  st.int64(2),
                             st.int64(3), st.int64(4), st.int64(5) != 0};
                st.reset();
                return out;
            });
        if (!r.ok()) co_return fail(req, r.err());
        catalog_.update_show(show_id, [&](show_info& si) {
            si.queue_enabled = *enabled;
            si.admit_per_minute = admit;
        });
        co_return response::ok(to_json(*r));
    }

    struct queue_place {
        std::int64_t position = 0;  // 1 = next to be admitted; 0 once admitted
        std::optional<std::int64_t> admitted_ms;
        bool created = false;
    };

    static std::int64_t waiting_ahead(db::connection& c, const std::string& show_id,
                                      std::int64_t position) {
        auto& st = c.prepare(
            "SELECT COUNT(*) FROM queue_entries WHERE show_id = ? AND admitted_ms IS NULL AND "
            "position <= ?");
        st.bind_all(show_id, position);
        st.step();
        const auto n = st.int64(0);
        st.reset();
        return n;
    }

    boost::json::object place_json(const queue_place& p, const show_info& show,
                                   const std::string& user_id) const {
        const auto now = ctx_.clock.now_ms();
        if (p.admitted_ms) {
            const auto expires = *p.admitted_ms + pass_ms_;
            if (now >= expires)
                return {{"position", 0}, {"status", "expired"}, {"estimated_wait_seconds", 0}};
            return {
                {"position", 0},
                {"status", "ready"},
                {"estimated_wait_seconds", 0},
                {"queue_pass", sign_queue_pass(ctx_.secrets.ticket_key, user_id, show.id, expires)},
                {"queue_pass_expires_at", format_rfc3339_ms(expires)}};
        }
        const auto per_minute = std::max<std::int64_t>(1, show.admit_per_minute);
        return {{"position", p.position},
                {"status", "waiting"},
                {"estimated_wait_seconds", (p.position * 60 + per_minute - 1) / per_minute}};
    }

    awaitable<response> join_queue(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto show_id = f.required_string("show_id", 1, 64);
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());
        auto show = catalog_.show(*show_id);
        if (!show || show->deleted || !show->published || show->tenant_id != req.caller->tenant)
            co_return fail(req, error::not_found("no such show"));
        if (!show->queue_enabled)
            co_return fail(req,
                           error::conflict("INVALID_STATE", "this show has no waiting room now"));
        const auto pass_ms = pass_ms_;
        auto r = co_await ctx_.db.writer().write<queue_place>(
            [sid = show->id, uid = req.caller->user_id, pass_ms](db::tx& t) -> result<queue_place> {
                auto& st = t.prepare(
                    "SELECT position, admitted_ms FROM queue_entries WHERE show_id = ? AND user_id "
                    "= ?");
                st.bind_all(sid, uid);
                std::optional<queue_place> existing;
                if (st.step()) existing = queue_place{st.int64(0), st.optional_int64(1), false};
                st.reset();
                // Still waiting, or admitted with a live pass: the same place again.
                if (existing &&
                    (!existing->admitted_ms || *existing->admitted_ms + pass_ms > t.now_ms())) {
                    if (!existing->admitted_ms)
                        existing->position = waiting_ahead(t.conn(), sid, existing->position);
                    return *existing;
                }
                t.prepare("DELETE FROM queue_entries WHERE show_id = ? AND user_id = ?")
                    .bind_all(sid, uid)
                    .run();
                auto& last = t.prepare(
                    "SELECT COALESCE(MAX(position), 0) + 1 FROM queue_entries WHERE show_id = ?");
                last.bind(1, sid);
                last.step();
                const auto position = last.int64(0);
                last.reset();
                t.prepare(
                     "INSERT INTO queue_entries (show_id, user_id, position, joined_ms) VALUES (?, "
                     "?, ?, ?)")
                    .bind_all(sid, uid, position, t.now_ms())
                    .run();
                return queue_place{waiting_ahead(t.conn(), sid, position), std::nullopt, true};
            });
        if (!r.ok()) co_return fail(req, r.err());
        co_return response::ok(place_json(*r, *show, req.caller->user_id), r->created ? 201 : 200);
    }

    awaitable<response> queue_status(request& req) {
        const auto show_id = req.query_param("show_id");
        if (!show_id) co_return fail(req, error::validation("show_id", "is required"));
        auto show = catalog_.show(*show_id);
        if (!show || show->deleted || !show->published)
            co_return fail(req, error::not_found("no such show"));
        auto r = co_await ctx_.db.read<std::optional<queue_place>>(
            [sid = *show_id,
             uid = req.caller->user_id](db::connection& c) -> result<std::optional<queue_place>> {
                auto& st = c.prepare(
                    "SELECT position, admitted_ms FROM queue_entries WHERE show_id = ? AND user_id "
                    "= ?");
                st.bind_all(sid, uid);
                std::optional<queue_place> out;
                if (st.step()) out = queue_place{st.int64(0), st.optional_int64(1), false};
                st.reset();
                if (out && !out->admitted_ms) out->position = waiting_ahead(c, sid, out->position);
                return out;
            });
        if (!r.ok()) co_return fail(req, r.err());
        if (!*r) co_return fail(req, error::not_found("you are not in this show's waiting room"));
        co_return response::ok(place_json(**r, *show, req.caller->user_id));
    }

    // Admits users at each show's rate, spread evenly: the loop ticks at least once a second.
    awaitable<void> release_loop() {
        constexpr auto tick = std::chrono::milliseconds(250);
        auto next = std::chrono::steady_clock::now();
        while (!stopped_) {
            // At a fixed rate: a round's writes do not stretch the interval (after a stall it
            // starts again from now; the quota's cap bounds what a late round admits).
            next = std::max(next + tick, std::chrono::steady_clock::now());
            release_timer_.expires_at(next);
            auto [ec] = co_await release_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec || stopped_) co_return;
            for (const auto& show : catalog_.queue_shows()) {
                double& quota = admit_quota_[show.id];
                quota = std::min(
                    quota + static_cast<double>(show.admit_per_minute) / 240.0,
                    std::max(1.0, static_cast<double>(show.admit_per_minute) / 240.0) + 1.0);
                const auto n = static_cast<std::int64_t>(quota);
                if (n <= 0) continue;
                auto admitted = co_await ctx_.db.writer().write<std::int64_t>(
                    [sid = show.id, n](db::tx& t) -> result<std::int64_t> {
                        t.prepare(
                             "UPDATE queue_entries SET admitted_ms = ? WHERE id IN (SELECT id FROM "
                             "queue_entries WHERE "
                             "show_id = ? AND admitted_ms IS NULL ORDER BY position LIMIT ?)")
                            .bind_all(t.now_ms(), sid, n)
                            .run();
                        return t.conn().changes();
                    });
                // Unused admissions are not banked: an empty queue must not let a crowd in at once.
                quota = admitted.ok() && *admitted > 0 ? quota - static_cast<double>(*admitted)
                                                       : std::min(quota, 1.0);
            }
        }
    }

    // ---- e-tickets --------------------------------------------------------------------------

    awaitable<response> get_ticket(request& req) {
        auto b = co_await own_booking(req);
        if (!b) co_return fail(req, error::not_found("no such booking"));
        if (b->status != "confirmed")
            co_return fail(
                req, error::conflict("INVALID_STATE", "only confirmed bookings have tickets"));
        const std::string code = sign_ticket(ctx_.secrets.ticket_key, b->id);
        const std::string svg = qr_svg(code);
        if (req.prefers("image/svg+xml", "application/json")) {
            response r = response::raw(200, "image/svg+xml", svg);
            r.set_header("Cache-Control", "private, no-store");
            co_return r;
        }
        co_return response::ok(boost::json::object{
            {"ticket_id", code}, {"booking_id", b->id}, {"qr_svg", svg}, {"booking", to_json(*b)}});
    }

    awaitable<response> verify_ticket(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto code = f.required_string("code", 1, 500);
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());
        const auto booking_id = ticket_booking(ctx_.secrets.ticket_key, *code);
        if (!booking_id)
            co_return fail(req, error::validation("code", "is not a genuine Souk ticket"));
        const std::string staff = req.caller->user_id;
        const bool admin = req.caller->has_role("admin");
        auto r = co_await ctx_.db.writer().write<checkin>(
            [id = *booking_id, staff, admin](db::tx& t) -> result<checkin> {
                return check_in(t, id, staff, admin);
            });
        if (!r.ok()) co_return fail(req, r.err());
        if (r->used_ms) {
            error e = error::conflict("CONFLICT", "this ticket was already used");
            e.details["used_at"] = format_rfc3339_ms(*r->used_ms);
            co_return fail(req, e);
        }
        co_return response::ok(
            boost::json::object{{"valid", true}, {"booking", to_json(r->booking)}});
    }

    // ---- queries ----------------------------------------------------------------------------

    awaitable<response> query_bookings(request& req, bool pending_only) {
        const auto paged = req.page();
        const auto page = paged.page, per_page = paged.per_page;
        struct page_t {
            std::vector<booking_row> rows;
            std::int64_t total = 0;
        };
        std::string where = owned_bookings(false);
        if (pending_only) where += " AND status = 'reserved'";
        auto r = co_await ctx_.db.read<page_t>(
            [where, user = req.caller->user_id, page, per_page,
             pending = json_ids(owners_.pending_ids(req.caller->user_id))](
                db::connection& c) -> result<page_t> {
                page_t p;
                auto& count = c.prepare("SELECT COUNT(*) FROM bookings WHERE " + where);
                count.bind(1, user).bind(4, pending);
                count.step();
                p.total = count.int64(0);
                count.reset();
                auto& st =
                    c.prepare(std::string("SELECT ") + booking_cols + " FROM bookings WHERE " +
                              where + " ORDER BY created_ms DESC, id LIMIT ?2 OFFSET ?3");
                st.bind_all(user, per_page, (page - 1) * per_page, pending);
                while (st.step())
                    p.rows.push_back(read_booking(st));
                st.reset();
                return p;
            });
        if (!r.ok()) co_return fail(req, r.err());
        boost::json::array items;
        for (const auto& b : r->rows)
            items.push_back(to_json(b));
        co_return response::list(items, page, per_page, r->total);
    }

    awaitable<response> list_bookings(request& req) {
        co_return co_await query_bookings(req, false);
    }
    awaitable<response> list_pending(request& req) { co_return co_await query_bookings(req, true); }

    awaitable<response> get_booking(request& req) {
        auto b = co_await own_booking(req);
        if (!b) co_return fail(req, error::not_found("no such booking"));
        co_return response::ok(to_json(*b));
    }

    // ---- the owner index (owners.hpp) --------------------------------------------------------

    // Entries per write job. A job delays every reservation of its batch by its own time: 1,024
    // inserts of one row each (~2 µs apiece) made each pass a train of 2 ms hiccups, every other
    // second the open loop's slowest answers (docs/benchmarks.md, eighth session); 128, sixteen
    // to a statement (write_owners), take a tenth of a millisecond or less.
    static constexpr std::size_t owner_chunk = 128;

    awaitable<void> recover_owner_index() {
        auto r = co_await ctx_.db.writer().write<std::size_t>(
            [](db::tx& t) -> result<std::size_t> { return recover_owners(t, owner_margin_ms); });
        if (!r.ok()) throw std::runtime_error("booking: cannot recover the owner index");
        owners_ready_ = true;
        if (*r > 0) log::info("owner index recovered", {{"bookings", *r}});
    }

    awaitable<void> owners_loop() {
        while (!stopped_) {
            owners_timer_.expires_after(owners_interval_);
            auto [ec] = co_await owners_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec || stopped_) co_return;
            co_await write_owner_pass();
        }
    }

    // Writes what has gathered, sorted, in chunks; the last chunk moves the mark. A failed chunk
    // leaves the set sealed: the next pass writes it again (the inserts are idempotent).
    awaitable<void> write_owner_pass() {
        // Copying and sorting a few seconds' worth of entries takes milliseconds: not on an io
        // thread, whose connections would wait for it.
        auto sealed = co_await asio::co_spawn(
            ctx_.cpu, [this]() -> awaitable<owner_index::sealed_set> { co_return owners_.seal(); },
            asio::use_awaitable);
        const auto& entries = sealed.entries;
        for (std::size_t i = 0; i < entries.size(); i += owner_chunk) {
            const std::size_t end = std::min(entries.size(), i + owner_chunk);
            // The entries stay sealed (unchanged) until written() below.
            std::span<const owner_entry* const> chunk(entries.data() + i, end - i);
            auto r = co_await ctx_.db.writer().write<std::size_t>(
                [chunk, last = end == entries.size(),
                 at = sealed.sealed_ms](db::tx& t) -> result<std::size_t> {
                    const std::size_t n = write_owners(t, chunk);
                    if (last) write_owner_mark(t, at, false);
                    return n;
                });
            if (!r.ok()) {
                log::warn("owner index pass failed", {{"error", r.err().message}});
                co_return;
            }
        }
        if (entries.empty()) co_return;
        co_await asio::co_spawn(  // freeing them is thousands of frees: not on an io thread either
            ctx_.cpu,
            [this]() -> awaitable<void> {
                owners_.written();
                co_return;
            },
            asio::use_awaitable);
    }

    // A graceful stop writes everything and marks the index clean: no start-up scan.
    void flush_owner_index() {
        if (!owners_ready_) return;
        for (int i = 0; i < 2 && owners_.pending() > 0; ++i) {
            auto sealed = owners_.seal();
            auto r = ctx_.db.writer().write_sync<std::size_t>(
                [&sealed](db::tx& t) -> result<std::size_t> {
                    return write_owners(t, sealed.entries);
                });
            if (!r.ok()) return;  // left unclean: the next start recovers
            owners_.written();
        }
        (void)ctx_.db.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
            write_owner_mark(t, owner_clock_ms(), true);
            return true;
        });
    }

    // ---- restart ----------------------------------------------------------------------------

    // Loads the catalog and rebuilds every shard from SQLite; holds past their time expire now.
    awaitable<void> rebuild() {
        struct state {
            std::vector<show_info> shows;
            std::vector<zone_row> zones;
            std::vector<inventory::hold> live;  // live bookings as the shards hold them
            std::size_t recorded_keys = 0;
        };
        using steady = std::chrono::steady_clock;
        const auto started = steady::now();
        auto ms_since = [](steady::time_point t) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t).count();
        };
        std::int64_t rows_ms = 0;
        auto st = co_await ctx_.db.read<state>([&](db::connection& c) -> result<state> {
            state out;
            auto& s = c.prepare(
                "SELECT s.id, s.event_id, e.tenant_id, e.organizer_id, e.sale_starts_ms, "
                "e.max_per_user, "
                "e.status = 'published', e.deleted_ms IS NOT NULL, s.queue_enabled, "
                "s.admit_per_minute FROM "
                "shows s JOIN events e ON e.id = s.event_id");
            while (s.step())
                out.shows.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.int64(4),
                                     s.int64(5), s.int64(6) != 0, s.int64(7) != 0, s.int64(8) != 0,
                                     s.int64(9)});
            s.reset();
            auto& z = c.prepare(
                "SELECT id, show_id, event_id, name, currency, price_amount, capacity FROM zones");
            while (z.step())
                out.zones.push_back({z.text(0), z.text(1), z.text(2), z.text(3), z.text(4),
                                     z.int64(5), z.int64(6)});
            z.reset();
            // Only what a hold keeps: millions of rows after a crash in a rush.
            auto& b = c.prepare(
                "SELECT id, zone_id, quantity, user_id, event_id, expires_ms, status = 'confirmed' "
                "FROM bookings WHERE status IN ('reserved', 'confirmed')");
            while (b.step())
                out.live.push_back({b.text(0), b.text(1), b.int64(2), b.text(3), b.text(4),
                                    b.int64(5),
                                    b.int64(6) != 0 ? inventory::hold_state::posted
                                                    : inventory::hold_state::held});
            b.reset();
            rows_ms = ms_since(started);
            out.recorded_keys = load_reserve_keys(c);
            return out;
        });
        if (!st.ok()) throw std::runtime_error("booking: cannot load the inventory");
        const auto read_ms = ms_since(started);
        const auto restoring = steady::now();
        for (const auto& s : st->shows)
            catalog_.put_show(s);
        for (const auto& z : st->zones)
            catalog_.put_zone({z.id, z.show_id, z.event_id, z.price_amount, z.currency});
        // Hand each shard its own zones and holds, on its own thread.
        const std::size_t n = ctx_.inventory.shard_count();
        std::vector<std::vector<const zone_row*>> zones(n);
        std::vector<std::vector<const inventory::hold*>> holds(n);
        auto index_of = [&](const std::string& event_id) {
            shard* target = &ctx_.inventory.for_partition(event_id);
            for (std::size_t i = 0; i < n; ++i)
                if (&ctx_.inventory.at(i) == target) return i;
            return std::size_t{0};
        };
        for (const auto& z : st->zones)
            zones[index_of(z.event_id)].push_back(&z);
        for (const auto& h : st->live)
            holds[index_of(h.group)].push_back(&h);
        std::size_t expired_now = 0;
        const auto now = ctx_.clock.now_ms();
        for (std::size_t i = 0; i < n; ++i) {
            shard& s = ctx_.inventory.at(i);
            expired_now += co_await asio::co_spawn(
                s.executor(),
                [&, i]() -> awaitable<std::size_t> {
                    std::size_t expired = 0;
                    for (const auto* z : zones[i])
                        s.set_resource(z->id, z->capacity);
                    s.expect_holds(holds[i].size());
                    for (const auto* h : holds[i])
                        s.restore_hold(*h);
                    for (const auto* h : holds[i]) {
                        if (h->state == inventory::hold_state::held && h->expires_ms <= now) {
                            co_await expire_hold(s, h->id);
                            ++expired;
                        }
                    }
                    co_return expired;
                },
                asio::use_awaitable);
        }
        log::info("inventory rebuilt", {{"zones", st->zones.size()},
                                        {"live_bookings", st->live.size()},
                                        {"expired_on_start", expired_now},
                                        {"idempotency_keys", st->recorded_keys},
                                        {"shards", n},
                                        {"rows_ms", rows_ms},
                                        {"keys_ms", read_ms - rows_ms},
                                        {"restore_ms", ms_since(restoring)}});
    }

    context& ctx_;
    catalog catalog_;
    asio::steady_timer release_timer_;
    asio::steady_timer owners_timer_;
    owner_index owners_;
    std::chrono::seconds owners_interval_{2};
    bool owners_ready_ = false;  // recovered at start-up: flushing at the stop is safe
    std::unordered_map<std::string, double>
        admit_quota_;  // per show, touched on the release loop only
    std::atomic<bool> stopped_{false};
    std::int64_t pass_ms_ = 300'000;
    std::int64_t hold_ms_ = 600'000;
    std::int64_t quantity_max_ = 100;
    // Notes the reserve keys of the last 24 h: those of bookings (ids are time-ordered, so the
    // scan starts an hour before the cutoff rather than at the first booking) and the answers
    // without effect that the middleware kept.
    std::size_t load_reserve_keys(db::connection& c) {
        const std::int64_t since = ctx_.clock.now_ms() - http::idempotency_ttl_ms;
        std::size_t n = reserve_keys_.load(c, reserve_route, since);
        auto& st = c.prepare(
            "SELECT user_id, idem_key FROM bookings WHERE id >= ? AND created_ms >= ? AND "
            "idem_key IS NOT NULL");
        st.bind_all(id_floor("bkg", since - 3'600'000), since);
        for (; st.step(); ++n)
            reserve_keys_.note(st.text_view(0), reserve_route, st.text_view(1));
        st.reset();
        return n;
    }

    // Reserve's idempotency keys that may have a stored answer (sold-out 409s skip the lookup).
    http::recorded_keys reserve_keys_;
    static constexpr std::string_view reserve_route = "POST /api/v1/bookings/reserve";
    std::int64_t cancel_cutoff_ms_ = 24 * 3'600'000LL;
    std::string default_currency_ = "USD";
};

}  // namespace

std::unique_ptr<module> make_module(context& ctx) {
    return std::make_unique<booking_module>(ctx);
}

void find_succeeded_payments_with(succeeded_payment_finder f) {
    installed_payment_finder() = std::move(f);
}

std::optional<payable_booking> find_payable(db::connection& c, std::string_view booking_id) {
    auto& st = c.prepare(
        "SELECT b.id, b.tenant_id, b.user_id, e.organizer_id, b.event_id, b.status, b.currency, "
        "b.amount, b.expires_ms, s.ends_ms FROM bookings b JOIN events e ON e.id = b.event_id "
        "JOIN shows s ON s.id = b.show_id WHERE b.id = ?");
    st.bind(1, booking_id);
    std::optional<payable_booking> out;
    if (st.step())
        out = payable_booking{st.text(0), st.text(1), st.text(2),  st.text(3),  st.text(4),
                              st.text(5), st.text(6), st.int64(7), st.int64(8), st.int64(9)};
    st.reset();
    return out;
}

int ticket_cli(const std::vector<std::string>& argv, const config::settings& s,
               const std::string& ticket_key) {
    constexpr const char* usage =
        "usage: souk ticket verify --code CODE\n"
        "Checks a ticket's signature and marks it used once (exit 0); a forged, unconfirmed or\n"
        "already used ticket exits 1.\n";
    std::string code;
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == "--code") code = argv[i + 1];
    const bool help = std::find(argv.begin(), argv.end(), "--help") != argv.end();
    if (argv.empty() || help) {
        std::fputs(usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    if (argv[0] != "verify" || code.empty()) {
        std::fputs(usage, stderr);
        return 2;
    }
    const auto booking_id = ticket_booking(ticket_key, code);
    if (!booking_id) {
        std::puts("invalid: not a genuine Souk ticket");
        return 1;
    }
    db::database_options o;
    o.path = config::in_data_dir(s, s.db_path);
    o.synchronous = s.synchronous;
    o.readers = 1;
    system_clock clk;
    db::database d(o, clk);
    auto r = d.writer().write_sync<checkin>(
        [id = *booking_id](db::tx& t) -> result<checkin> { return check_in(t, id, "cli", true); });
    d.stop();
    if (!r.ok()) {
        std::printf("invalid: %s\n", r.err().message.c_str());
        return 1;
    }
    if (r->used_ms) {
        std::printf("already used at %s (booking %s)\n", format_rfc3339_ms(*r->used_ms).c_str(),
                    r->booking.id.c_str());
        return 1;
    }
    std::printf("valid: booking %s, %lld ticket(s), checked in now\n", r->booking.id.c_str(),
                static_cast<long long>(r->booking.quantity));
    return 0;
}

std::vector<std::string> check_invariants(db::connection& c, std::int64_t now_ms) {
    (void)now_ms;
    std::vector<std::string> problems;
    auto& st = c.prepare(
        "SELECT z.id, z.capacity, z.held, z.confirmed, "
        "COALESCE(SUM(CASE WHEN b.status = 'reserved' THEN b.quantity END), 0), "
        "COALESCE(SUM(CASE WHEN b.status = 'confirmed' THEN b.quantity END), 0) "
        "FROM zones z LEFT JOIN bookings b ON b.zone_id = z.id GROUP BY z.id");
    while (st.step()) {
        const std::string id = st.text(0);
        const auto capacity = st.int64(1), held = st.int64(2), confirmed = st.int64(3);
        const auto live_held = st.int64(4), live_confirmed = st.int64(5);
        if (held != live_held)
            problems.push_back("zone " + id + ": held " + std::to_string(held) +
                               " but reserved bookings hold " + std::to_string(live_held));
        if (confirmed != live_confirmed)
            problems.push_back("zone " + id + ": confirmed " + std::to_string(confirmed) +
                               " but confirmed bookings hold " + std::to_string(live_confirmed));
        if (capacity - live_held - live_confirmed < 0)
            problems.push_back("zone " + id + ": oversold (available " +
                               std::to_string(capacity - live_held - live_confirmed) + ")");
    }
    st.reset();
    for (auto& p : check_owners(c))
        problems.push_back(std::move(p));
    return problems;
}

}  // namespace souk::booking
