// The payouts module: payments through the PSP adapter, signed webhooks, the checkout saga, the
// double-entry ledger with escrow, refunds and audited payouts (API.md "Payments, ledger,
// payouts"; DESIGN §4).
#include <boost/json.hpp>
#include <souk/booking/booking.hpp>
#include <souk/core/assert.hpp>
#include <souk/core/crypto.hpp>
#include <souk/core/random.hpp>
#include <souk/http/audit.hpp>
#include <souk/http/json.hpp>
#include <souk/identity/identity.hpp>
#include <souk/log/log.hpp>
#include <souk/metrics/metrics.hpp>
#include <souk/payouts/ledger.hpp>
#include <souk/payouts/payouts.hpp>

#include "checks.hpp"
#include "psp.hpp"
#include "psp_simulator.hpp"
#include "rules.hpp"
#include "signature.hpp"
#include "store.hpp"

namespace souk::payouts {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using http::request;
using http::response;
using ledger::account_kind;

response fail(const request& req, const error& e) {
    return response::fail(e, req.request_id);
}

// What a write job did that metrics count, once it has committed.
struct tally {
    std::vector<std::string> transfers, payments, steps;
    bool payouts_changed = false;
};

struct metric_families {
    prometheus::Family<prometheus::Counter>& payments;
    prometheus::Family<prometheus::Counter>& webhooks;
    prometheus::Family<prometheus::Counter>& steps;
    prometheus::Family<prometheus::Counter>& compensations;
    prometheus::Family<prometheus::Counter>& transfers;
    prometheus::Gauge& payouts_pending;

    static metric_families& get() {
        static metric_families m{prometheus::BuildCounter()
                                     .Name("souk_payments_total")
                                     .Help("Payments entering each status")
                                     .Register(metrics::registry()),
                                 prometheus::BuildCounter()
                                     .Name("souk_psp_webhooks_total")
                                     .Help("PSP webhooks by verification result")
                                     .Register(metrics::registry()),
                                 prometheus::BuildCounter()
                                     .Name("souk_checkout_saga_steps_total")
                                     .Help("Checkout saga steps taken")
                                     .Register(metrics::registry()),
                                 prometheus::BuildCounter()
                                     .Name("souk_checkout_compensations_total")
                                     .Help("Checkout saga compensations (seats released, refunds)")
                                     .Register(metrics::registry()),
                                 prometheus::BuildCounter()
                                     .Name("souk_ledger_transfers_total")
                                     .Help("Ledger transfers posted, by kind")
                                     .Register(metrics::registry()),
                                 prometheus::BuildGauge()
                                     .Name("souk_payouts_pending_approval")
                                     .Help("Payouts waiting for an admin's decision")
                                     .Register(metrics::registry())
                                     .Add({})};
        return m;
    }
};

void count(const tally& t) {
    auto& m = metric_families::get();
    for (const auto& k : t.transfers)
        m.transfers.Add({{"kind", k}}).Increment();
    for (const auto& s : t.payments)
        m.payments.Add({{"status", s}}).Increment();
    for (const auto& s : t.steps) {
        m.steps.Add({{"step", s}}).Increment();
        if (is_compensation(s)) m.compensations.Add({{"step", s}}).Increment();
    }
}

// Posts a transfer the module built itself: a malformed one is a bug.
result<std::string> post(db::tx& t, tally& out, ledger::transfer tr) {
    SOUK_ASSERT(ledger::validate(tr).ok());
    auto id = ledger::post(t, tr);
    if (id.ok()) out.transfers.push_back(tr.kind);
    return id;
}

std::vector<ledger::leg> nonzero(std::vector<ledger::leg> legs) {
    std::erase_if(legs, [](const ledger::leg& l) { return l.amount == 0; });
    return legs;
}

// Moves the checkout saga of a payment one step, once; publishes the step as an event.
bool saga_step(db::tx& t, tally& out, const std::string& payment_id, const std::string& step) {
    auto& st = t.prepare("SELECT state, booking_id FROM checkout_sagas WHERE payment_id = ?");
    st.bind(1, payment_id);
    if (!st.step()) {
        st.reset();
        return false;
    }
    const std::string state = st.text(0), booking_id = st.text(1);
    st.reset();
    if (!saga_allows(state, step)) return false;
    t.prepare(
         "INSERT OR IGNORE INTO checkout_saga_steps (payment_id, step, at_ms) VALUES (?, ?, ?)")
        .bind_all(payment_id, step, t.now_ms())
        .run();
    if (t.conn().changes() != 1) return false;
    t.prepare("UPDATE checkout_sagas SET state = ?, updated_ms = ? WHERE payment_id = ?")
        .bind_all(step, t.now_ms(), payment_id)
        .run();
    t.publish("checkout." + step,
              {{"payment_id", payment_id}, {"booking_id", booking_id}, {"from", state}});
    out.steps.push_back(step);
    return true;
}

std::optional<std::string> saga_of_booking(db::connection& c, const std::string& booking_id,
                                           std::string* state = nullptr) {
    auto& st = c.prepare(
        "SELECT payment_id, state FROM checkout_sagas WHERE booking_id = ? ORDER BY updated_ms "
        "DESC LIMIT 1");
    st.bind(1, booking_id);
    std::optional<std::string> out;
    if (st.step()) {
        out = st.text(0);
        if (state) *state = st.text(1);
    }
    st.reset();
    return out;
}

void set_payment_status(db::tx& t, tally& out, const std::string& id, const std::string& status) {
    t.prepare("UPDATE payments SET status = ?, updated_ms = ? WHERE id = ?")
        .bind_all(status, t.now_ms(), id)
        .run();
    out.payments.push_back(status);
}

ledger::account seller_account(account_kind k, const payment_row& p) {
    return ledger::seller(k, p.seller_id, p.currency);
}
ledger::account platform_account(account_kind k, const std::string& currency) {
    return ledger::platform(k, currency);
}

// Starts a refund: the seller's share comes back from escrow (or from the available balance once
// released), the fee from the platform's revenue; the money waits in "refunds in flight" until
// the PSP confirms. The PSP is called after commit (refund.requested), with the refund id as its
// reference.
result<refund_row> start_refund(db::tx& t, tally& out, const payment_row& p, std::int64_t amount,
                                std::string reason, std::string actor) {
    if (p.status != "succeeded" && p.status != "refunded")
        return error::conflict("INVALID_STATE", "the payment is " + p.status);
    if (amount <= 0 || amount > p.amount - p.refunded)
        return error::validation("amount", "must be 1.." + std::to_string(p.amount - p.refunded));
    const auto split = split_refund(p.amount, p.fee, p.refunded, p.fee_refunded, amount);
    refund_row r{new_id("rf"), p.id, p.currency, std::move(reason), std::move(actor), "pending"};
    r.amount = amount;
    r.created_ms = t.now_ms();
    const auto from =
        p.escrow_released_ms ? account_kind::seller_available : account_kind::seller_pending;
    auto posted =
        post(t, out,
             {"refund", r.id, p.currency,
              nonzero({{seller_account(from, p), split.seller},
                       {platform_account(account_kind::fees_revenue, p.currency), split.fee},
                       {platform_account(account_kind::refunds_in_flight, p.currency), -amount}})});
    if (!posted.ok())
        return error::conflict("INVALID_STATE",
                               "the seller's available balance cannot cover this refund");
    t.prepare(
         "UPDATE payments SET refunded = refunded + ?, fee_refunded = fee_refunded + ?, "
         "updated_ms = ? WHERE id = ?")
        .bind_all(amount, split.fee, t.now_ms(), p.id)
        .run();
    t.prepare(
         "INSERT INTO refunds (id, payment_id, amount, currency, reason, actor_id, status, "
         "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)")
        .bind_all(r.id, p.id, amount, p.currency, r.reason, r.actor_id, t.now_ms(), t.now_ms())
        .run();
    t.publish("refund.requested",
              {{"refund_id", r.id}, {"payment_id", p.id}, {"booking_id", p.booking_id}});
    return r;
}

// Approval moves the reserved money to "in transit"; the PSP is called after commit.
void approve_in_tx(db::tx& t, tally& out, const payout_row& p, db::audit_entry audit) {
    const auto moved = post(
        t, out,
        {"payout_approved",
         p.id,
         p.currency,
         {{ledger::seller(account_kind::seller_payout_reserved, p.user_id, p.currency), p.amount},
          {platform_account(account_kind::payouts_in_transit, p.currency), -p.amount}}});
    SOUK_ASSERT(moved.ok());  // balances checked before: cannot go short
    t.prepare(
         "UPDATE payouts SET status = 'in_transit', decided_by = ?, decided_ms = ?, reason = ?, "
         "updated_ms = ? WHERE id = ?")
        .bind_all(audit.actor_id, t.now_ms(), std::string(audit.details["reason"].as_string()),
                  t.now_ms(), p.id)
        .run();
    t.audit(audit);
    t.publish("payout.approved", {{"payout_id", p.id}, {"user_id", p.user_id}});
    out.payouts_changed = true;
}

std::string str(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

class payouts_module final : public module {
  public:
    explicit payouts_module(context& ctx) : ctx_(ctx) {
        const auto& cfg = ctx.cfg.raw.at("payments").as_object();
        default_fee_bps_ = cfg.at("default_fee_bps").to_number<std::int64_t>();
        // Validated with the rest of the configuration (src/config/config.cpp).
        release_on_payment_ = cfg.at("escrow_release").as_string() == "on_payment";
        release_delay_ms_ = cfg.at("escrow_release_delay_seconds").to_number<std::int64_t>() * 1000;
        automatic_payouts_ = cfg.at("automatic_payouts").as_bool();
        secrets_.push_back(ctx.secrets.webhook_secret);
        for (const auto& s : cfg.at("previous_webhook_secrets").as_array())
            secrets_.emplace_back(s.as_string());
        const auto& psp = cfg.at("psp").as_object();
        // The PSP's API key is derived from the webhook secret so that nothing more needs keeping.
        psp_options_.api_key =
            to_hex(crypto::hmac_sha256(ctx.secrets.webhook_secret, "psp-api-key"));
        psp_options_.base_url = std::string(psp.at("base_url").as_string());
        psp_options_.verify_tls = psp.at("verify_tls").as_bool();
        if (psp_options_.base_url.empty()) {
            // No provider configured: our own simulator, reached at our own public URL.
            psp_options_.verify_tls = false;
            sim_ = mount_psp_simulator(
                ctx, {.api_key = psp_options_.api_key,
                      .signing_secrets = secrets_,
                      .webhook_url = [&ctx] { return ctx.public_url() + "api/v1/webhooks/psp"; },
                      .public_url = [&ctx] { return ctx.public_url(); },
                      .late_success_ms =
                          psp.at("late_success_seconds").to_number<std::int64_t>() * 1000});
        } else if (!psp_options_.base_url.ends_with('/')) {
            psp_options_.base_url += '/';
        }
        add_routes();
        subscribe();
        ctx.scheduler.on("payouts.escrow_release",
                         [this](const db::timer_row& t) { return release_escrow(t); });
        metric_families::get();
    }

    std::string_view name() const override { return "payouts"; }

    awaitable<void> ready() override {
        // The public URL is known once the listeners are bound.
        auto o = psp_options_;
        if (sim_) o.base_url = ctx_.public_url() + "psp/";
        psp_ = make_http_psp(ctx_.executors.front(), std::move(o));
        co_await refresh_pending_gauge();
    }

  private:
    // ---- routes -----------------------------------------------------------------------------

    void add_routes() {
        auto& r = ctx_.router;
        auto bind = [this](awaitable<response> (payouts_module::*fn)(request&)) {
            return [this, fn](request& req) { return (this->*fn)(req); };
        };
        const std::vector<std::string> earners{"seller", "business", "organizer"};
        const std::vector<std::string> admins{"admin"};
        r.post("/api/v1/payments",
               identity::require_user({.idempotent = true,
                                       .rate_class = "write",
                                       .summary = "Start paying for a booking"}),
               bind(&payouts_module::create_payment));
        r.get("/api/v1/payments/{id}", identity::require_user({.summary = "A payment"}),
              bind(&payouts_module::get_payment));
        r.post("/api/v1/payments/{id}/refund",
               identity::require_roles(admins, {.idempotent = true, .summary = "Refund a payment"}),
               bind(&payouts_module::refund_payment));
        r.post("/api/v1/webhooks/psp",
               {.body_limit = 64 * 1024, .summary = "PSP events (signed with Souk-Signature)"},
               bind(&payouts_module::webhook));
        r.get("/api/v1/balance",
              identity::require_roles(earners, {.summary = "Pending and available balances"}),
              bind(&payouts_module::balance));
        r.get("/api/v1/ledger/entries",
              identity::require_roles(earners, {.summary = "The caller's ledger entries"}),
              bind(&payouts_module::entries));
        r.post("/api/v1/payouts",
               identity::require_roles(
                   earners,
                   {.idempotent = true, .rate_class = "write", .summary = "Request a payout"}),
               bind(&payouts_module::request_payout));
        r.get("/api/v1/payouts",
              identity::require_roles(earners, {.summary = "The caller's payouts"}),
              bind(&payouts_module::list_own_payouts));
        r.get("/api/v1/admin/payouts",
              identity::require_roles(admins, {.summary = "Payouts, by status"}),
              bind(&payouts_module::admin_list_payouts));
        r.post("/api/v1/admin/payouts/{id}/approve",
               identity::require_roles(admins, {.summary = "Approve a payout"}),
               bind(&payouts_module::approve_payout));
        r.post("/api/v1/admin/payouts/{id}/deny",
               identity::require_roles(admins, {.summary = "Deny a payout"}),
               bind(&payouts_module::deny_payout));
        r.put("/api/v1/admin/fees/{tenant}",
              identity::require_roles(admins, {.summary = "Set a tenant's platform fee"}),
              bind(&payouts_module::set_fee));
    }

    // ---- payments ---------------------------------------------------------------------------

    std::int64_t fee_bps(db::connection& c, const std::string& tenant) const {
        auto& st = c.prepare("SELECT bps FROM fee_rates WHERE tenant_id = ?");
        st.bind(1, tenant);
        const std::int64_t bps = st.step() ? st.int64(0) : default_fee_bps_;
        st.reset();
        return bps;
    }

    struct created_payment {
        payment_row payment;
        bool created = false;
    };

    awaitable<response> create_payment(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto booking_id = f.required_string("booking_id", 1, 100);
        auto return_path = f.optional_string("return_path", 500);
        if (return_path &&
            (return_path->empty() || (*return_path)[0] != '/' || return_path->starts_with("//") ||
             return_path->find_first_of("\\?#\r\n") != std::string::npos))
            f.fail("return_path", "must be a path on this site, like /checkout/return");
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());

        const auto caller = req.caller->user_id;
        auto w = co_await ctx_.db.writer().write<created_payment>(
            [this, id = *booking_id, caller, path = return_path.value_or("/checkout/return")](
                db::tx& t) -> result<created_payment> {
                auto b = booking::find_payable(t.conn(), id);
                if (!b || b->user_id != caller) return error::not_found("no such booking");
                if (auto live = live_payment_of_booking(t.conn(), id)) {
                    if (live->status == "succeeded")
                        return error::conflict("INVALID_STATE", "the booking is paid already");
                    return created_payment{*live, false};
                }
                if (b->status == "expired" ||
                    (b->status == "reserved" && b->expires_ms <= t.now_ms()))
                    return error{410, "RESERVATION_EXPIRED", "the hold expired; reserve again"};
                if (b->status != "reserved")
                    return error::conflict("INVALID_STATE", "the booking is " + b->status);
                if (b->amount == 0)
                    return error::conflict("INVALID_STATE",
                                           "free bookings are confirmed without a payment");
                payment_row p;
                p.id = new_id("pay");
                p.tenant_id = b->tenant_id;
                p.user_id = b->user_id;
                p.booking_id = b->id;
                p.seller_id = b->organizer_id;
                p.currency = b->currency;
                p.status = "pending";
                p.return_path = path;
                p.amount = b->amount;
                p.fee = fee_for(b->amount, fee_bps(t.conn(), b->tenant_id));
                p.escrow_due_ms = b->show_ends_ms + release_delay_ms_;
                p.created_ms = p.updated_ms = t.now_ms();
                t.prepare(
                     "INSERT INTO payments (id, tenant_id, user_id, booking_id, seller_id, amount, "
                     "fee, currency, status, return_path, escrow_due_ms, created_ms, updated_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)")
                    .bind_all(p.id, p.tenant_id, p.user_id, p.booking_id, p.seller_id, p.amount,
                              p.fee, p.currency, p.return_path, p.escrow_due_ms, p.created_ms,
                              p.updated_ms)
                    .run();
                t.prepare(
                     "INSERT INTO checkout_sagas (payment_id, booking_id, state, updated_ms) "
                     "VALUES (?, ?, 'started', ?)")
                    .bind_all(p.id, p.booking_id, t.now_ms())
                    .run();
                t.prepare(
                     "INSERT INTO checkout_saga_steps (payment_id, step, at_ms) VALUES (?, "
                     "'started', ?)")
                    .bind_all(p.id, t.now_ms())
                    .run();
                t.publish("checkout.started", {{"payment_id", p.id}, {"booking_id", p.booking_id}});
                t.publish("payment.created", {{"payment_id", p.id},
                                              {"booking_id", p.booking_id},
                                              {"user_id", p.user_id},
                                              {"amount", json::money(p.amount, p.currency)}});
                return created_payment{p, true};
            });
        if (!w.ok()) co_return fail(req, w.err());
        if (w->created) count({.payments = {"pending"}, .steps = {"started"}});
        auto p = w->payment;
        if (!p.checkout_url) {
            // The intent is created after the payment row commits, with the payment id as the
            // PSP's reference: a retry (after a timeout or a crash) finds the same intent.
            auto i = co_await psp_->create_intent(
                {.reference = p.id,
                 .amount = p.amount,
                 .currency = p.currency,
                 .return_url = buyer_origin(req) + p.return_path.substr(1) + "?payment_id=" + p.id +
                               "&booking_id=" + p.booking_id,
                 .description = "Souk booking " + p.booking_id});
            if (!i.ok()) {
                log::warn("payment intent not created",
                          {{"payment", p.id}, {"error", i.err().message}});
                co_return fail(
                    req, error::unavailable("the payment provider is unavailable; try again"));
            }
            tally out;
            auto saved = co_await ctx_.db.writer().write<bool>(
                [id = p.id, i = *i, &out](db::tx& t) -> result<bool> {
                    t.prepare(
                         "UPDATE payments SET psp_intent_id = ?, checkout_url = ?, updated_ms = ? "
                         "WHERE id = ? AND psp_intent_id IS NULL")
                        .bind_all(i.id, i.checkout_url, t.now_ms(), id)
                        .run();
                    saga_step(t, out, id, "intent_created");
                    return true;
                });
            if (!saved.ok()) co_return fail(req, error::unavailable());
            count(out);
            p.psp_intent_id = i->id;
            p.checkout_url = i->checkout_url;
        }
        co_return response::ok(to_json(p), w->created ? 201 : 200);
    }

    // Where the buyer's browser reached us (the listener's scheme, the Host it sent), so that the
    // checkout returns to the same origin and its session cookie; only names of this server
    // are taken, anything else gets the public URL.
    std::string buyer_origin(const request& req) const {
        const std::string fallback = ctx_.public_url();
        const auto host = req.header("Host");
        if (host.empty() || host.size() > 255 ||
            host.find_first_not_of(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
                std::string_view::npos)
            return fallback;
        const auto name = host.front() == '[' ? host.substr(0, host.find(']') + 1)
                                              : host.substr(0, host.find(':'));
        const auto known = [&](std::string_view n) {
            if (n == "localhost" || n == "127.0.0.1" || n == "[::1]" || n == ctx_.cfg.server.host)
                return true;
            const auto at = fallback.find("://");
            const auto rest = at == std::string::npos ? std::string_view{}
                                                      : std::string_view(fallback).substr(at + 3);
            return rest.substr(0, rest.find_first_of(":/")) == n;
        };
        if (!known(name)) return fallback;
        return std::string(req.secure ? "https://" : "http://") + std::string(host) + "/";
    }

    awaitable<std::optional<payment_row>> visible_payment(const request& req) {
        auto r = co_await ctx_.db.read<std::optional<payment_row>>(
            [id = std::string(req.param("id"))](db::connection& c)
                -> result<std::optional<payment_row>> { return find_payment(c, id); });
        if (!r.ok() || !*r || !identity::owns_or_admin(req, (*r)->user_id)) co_return std::nullopt;
        co_return std::move(*r);
    }

    awaitable<response> get_payment(request& req) {
        auto p = co_await visible_payment(req);
        if (!p) co_return fail(req, error::not_found("no such payment"));
        co_return response::ok(to_json(*p));
    }

    awaitable<response> refund_payment(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto amount = f.optional_int("amount", 1, 1'000'000'000'000);
        auto reason = f.required_string("reason", 1, 500);
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());
        const std::string id(req.param("id"));
        auto audit =
            http::audit_of(req, "payouts.refund_requested", "payment", id, {{"reason", *reason}});
        tally out;
        auto w = co_await ctx_.db.writer().write<refund_row>(
            [id, amount, reason = *reason, audit, &out](db::tx& t) -> result<refund_row> {
                auto p = find_payment(t.conn(), id);
                if (!p) return error::not_found("no such payment");
                auto r = start_refund(t, out, *p, amount.value_or(p->amount - p->refunded), reason,
                                      audit.actor_id);
                if (!r.ok()) return r.err();
                auto a = audit;
                a.details["amount"] = r->amount;
                a.details["refund_id"] = r->id;
                t.audit(a);
                return r;
            });
        if (!w.ok()) co_return fail(req, w.err());
        count(out);
        co_return response::ok(to_json(*w), 201);
    }

    // ---- webhooks ---------------------------------------------------------------------------

    awaitable<response> webhook(request& req) {
        auto& m = metric_families::get();
        const auto check = verify_signature(req.header("Souk-Signature"), req.body, secrets_,
                                            ctx_.clock.now_ms() / 1000);
        if (check != signature_check::ok) {
            m.webhooks.Add({{"result", std::string(to_string(check))}}).Increment();
            co_return fail(req, error::bad_request("invalid webhook signature (" +
                                                   std::string(to_string(check)) + ")"));
        }
        auto body = req.json();
        if (!body.ok() || !body->is_object()) {
            m.webhooks.Add({{"result", "bad_body"}}).Increment();
            co_return fail(req, error::bad_request("the event is not a JSON object"));
        }
        const auto& ev = body->as_object();
        const auto id = str(ev, "id"), type = str(ev, "type");
        const auto* data = ev.if_contains("data");
        if (id.empty() || id.size() > 100 || type.empty() || !data || !data->is_object()) {
            m.webhooks.Add({{"result", "bad_body"}}).Increment();
            co_return fail(req, error::bad_request("the event needs id, type and data"));
        }
        tally out;
        auto w = co_await ctx_.db.writer().write<bool>([this, id, type, data = data->as_object(),
                                                        &out](db::tx& t) -> result<bool> {
            t.prepare("INSERT OR IGNORE INTO psp_events (id, type, received_ms) VALUES (?, ?, ?)")
                .bind_all(id, type, t.now_ms())
                .run();
            if (t.conn().changes() != 1) return false;  // seen before: nothing changes
            if (type == "payment.succeeded") {
                payment_succeeded(t, out, str(data, "payment_id"));
            } else if (type == "payment.failed") {
                payment_failed(t, out, str(data, "payment_id"), str(data, "reason"));
            } else if (type == "refund.succeeded") {
                refund_succeeded(t, out, str(data, "refund_id"));
            } else if (type == "payout.paid") {
                payout_paid(t, out, str(data, "payout_id"));
            } else {
                log::info("PSP event ignored", {{"type", type}, {"id", id}});
            }
            return true;
        });
        if (!w.ok()) {
            m.webhooks.Add({{"result", "error"}}).Increment();
            co_return fail(req, error::unavailable());  // the PSP sends it again
        }
        m.webhooks.Add({{"result", *w ? "ok" : "duplicate"}}).Increment();
        count(out);
        if (out.payouts_changed) co_await refresh_pending_gauge();
        co_return response::ok(boost::json::object{{"received", true}, {"duplicate", !*w}});
    }

    // The money is in: the sale is posted to the seller's escrow and the platform's fee, the
    // escrow release is timed, and booking is told (it confirms, or says the hold is gone).
    void payment_succeeded(db::tx& t, tally& out, const std::string& payment_id) {
        auto p = find_payment(t.conn(), payment_id);
        if (!p || p->status != "pending") {
            log::warn("payment.succeeded for a payment not pending",
                      {{"payment", payment_id}, {"status", p ? p->status : "unknown"}});
            return;
        }
        auto sale = post(
            t, out,
            {"sale", p->id, p->currency,
             nonzero({{platform_account(account_kind::psp_clearing, p->currency), p->amount},
                      {seller_account(account_kind::seller_pending, *p), -(p->amount - p->fee)},
                      {platform_account(account_kind::fees_revenue, p->currency), -p->fee}})});
        SOUK_ASSERT(sale.ok());  // credits only: nothing can go short
        const auto due = release_on_payment_ ? t.now_ms() : p->escrow_due_ms;
        t.prepare("UPDATE payments SET escrow_due_ms = ? WHERE id = ?").bind_all(due, p->id).run();
        set_payment_status(t, out, p->id, "succeeded");
        t.schedule("payouts.escrow_release", due, {{"payment_id", p->id}});
        saga_step(t, out, p->id, "paid");
        t.publish("payment.succeeded", {{"payment_id", p->id},
                                        {"booking_id", p->booking_id},
                                        {"user_id", p->user_id},
                                        {"amount", json::money(p->amount, p->currency)}});
    }

    void payment_failed(db::tx& t, tally& out, const std::string& payment_id,
                        const std::string& reason) {
        auto p = find_payment(t.conn(), payment_id);
        if (!p || p->status != "pending") return;
        set_payment_status(t, out, p->id, "failed");
        saga_step(t, out, p->id, "failed");
        t.publish("payment.failed", {{"payment_id", p->id},
                                     {"booking_id", p->booking_id},
                                     {"user_id", p->user_id},
                                     {"reason", reason.empty() ? "declined" : reason}});
    }

    void refund_succeeded(db::tx& t, tally& out, const std::string& refund_id) {
        auto r = find_refund(t.conn(), refund_id);
        if (!r || r->status != "pending") return;
        auto p = find_payment(t.conn(), r->payment_id);
        SOUK_ASSERT(p.has_value());
        const auto moved =
            post(t, out,
                 {"refund_settled",
                  r->id,
                  r->currency,
                  {{platform_account(account_kind::refunds_in_flight, r->currency), r->amount},
                   {platform_account(account_kind::psp_clearing, r->currency), -r->amount}}});
        SOUK_ASSERT(moved.ok());  // balances checked before: cannot go short
        t.prepare("UPDATE refunds SET status = 'succeeded', updated_ms = ? WHERE id = ?")
            .bind_all(t.now_ms(), r->id)
            .run();
        if (p->status != "refunded") set_payment_status(t, out, p->id, "refunded");
        saga_step(t, out, p->id, "refunded");
        t.publish("payment.refunded", {{"payment_id", p->id},
                                       {"booking_id", p->booking_id},
                                       {"user_id", p->user_id},
                                       {"refund_id", r->id},
                                       {"amount", json::money(r->amount, r->currency)},
                                       {"full", p->refunded == p->amount}});
    }

    void payout_paid(db::tx& t, tally& out, const std::string& payout_id) {
        auto p = find_payout(t.conn(), payout_id);
        if (!p || p->status != "in_transit") return;
        const auto moved =
            post(t, out,
                 {"payout_paid",
                  p->id,
                  p->currency,
                  {{platform_account(account_kind::payouts_in_transit, p->currency), p->amount},
                   {platform_account(account_kind::psp_clearing, p->currency), -p->amount}}});
        SOUK_ASSERT(moved.ok());  // balances checked before: cannot go short
        t.prepare("UPDATE payouts SET status = 'paid', paid_ms = ?, updated_ms = ? WHERE id = ?")
            .bind_all(t.now_ms(), t.now_ms(), p->id)
            .run();
        t.publish("payout.paid", {{"payout_id", p->id}, {"user_id", p->user_id}});
    }

    // ---- the saga's reactions to other modules' events ---------------------------------------

    void subscribe() {
        auto on = [this](const char* type, const char* name,
                         awaitable<status> (payouts_module::*fn)(const bus::event&)) {
            ctx_.bus.subscribe(type, name, [this, fn](const bus::event& e) -> awaitable<status> {
                co_return co_await (this->*fn)(e);
            });
        };
        on("booking.confirmed", "payouts.saga_confirmed", &payouts_module::on_booking_confirmed);
        on("ticket.issued", "payouts.saga_ticketed", &payouts_module::on_ticket_issued);
        on("booking.payment_unmatched", "payouts.refund_unmatched",
           &payouts_module::on_payment_unmatched);
        on("booking.expired", "payouts.saga_expired", &payouts_module::on_booking_expired);
        on("booking.cancelled", "payouts.saga_released", &payouts_module::on_booking_cancelled);
        on("refund.requested", "payouts.send_refund", &payouts_module::send_refund);
        on("payout.approved", "payouts.send_payout", &payouts_module::send_payout);
    }

    // Runs fn in a write job and counts what it did once committed.
    awaitable<status> saga_write(std::function<status(db::tx&, tally&)> fn) {
        tally out;
        auto w = co_await ctx_.db.writer().write<bool>([fn, &out](db::tx& t) -> result<bool> {
            out = {};  // a job may run again (db::write_job::run): count the last run only
            if (auto s = fn(t, out); !s.ok()) return s.err();
            return true;
        });
        if (!w.ok()) co_return w.err();
        count(out);
        co_return status{};
    }

    awaitable<status> on_booking_confirmed(const bus::event& e) {
        const auto payment_id = str(e.payload.as_object(), "payment_id");
        if (payment_id.empty()) co_return status{};  // free booking: no saga
        co_return co_await saga_write([payment_id](db::tx& t, tally& out) -> status {
            saga_step(t, out, payment_id, "confirmed");
            return {};
        });
    }

    // The ticket exists: the saga completes with a notification for the buyer.
    awaitable<status> on_ticket_issued(const bus::event& e) {
        const auto booking_id = str(e.payload.as_object(), "booking_id");
        co_return co_await saga_write([booking_id, e](db::tx& t, tally& out) -> status {
            std::string state;
            const auto payment_id = saga_of_booking(t.conn(), booking_id, &state);
            if (!payment_id) return {};
            // booking.confirmed is delivered independently: wait for it.
            if (state == "paid")
                return error::unavailable("the saga has not seen the confirmation");
            if (!saga_step(t, out, *payment_id, "ticketed")) return {};
            t.publish("notification.requested", {{"user_id", str(e.payload.as_object(), "user_id")},
                                                 {"kind", "tickets_ready"},
                                                 {"booking_id", booking_id},
                                                 {"payment_id", *payment_id}});
            saga_step(t, out, *payment_id, "completed");
            return {};
        });
    }

    // Paid for a hold that is gone (expired or cancelled), or confirm failed: refund in full.
    awaitable<status> on_payment_unmatched(const bus::event& e) {
        const auto payment_id = str(e.payload.as_object(), "payment_id");
        const auto booking_status = str(e.payload.as_object(), "status");
        co_return co_await saga_write([payment_id, booking_status](db::tx& t,
                                                                   tally& out) -> status {
            auto p = find_payment(t.conn(), payment_id);
            if (!p || p->refunded == p->amount || p->status != "succeeded") return {};
            auto r =
                start_refund(t, out, *p, p->amount - p->refunded,
                             "the booking was " + booking_status + " when the payment arrived", "");
            if (!r.ok()) {
                log::error("automatic refund refused",
                           {{"payment", payment_id}, {"error", r.err().message}});
                return {};
            }
            saga_step(t, out, p->id, "refunding");
            return {};
        });
    }

    // The hold ran out unpaid: the saga ends and the PSP is told to stop the intent (a payment
    // already on its way still arrives, and is refunded).
    awaitable<status> on_booking_expired(const bus::event& e) {
        const auto booking_id = str(e.payload.as_object(), "booking_id");
        auto stepped = co_await saga_write([booking_id](db::tx& t, tally& out) -> status {
            if (auto payment_id = saga_of_booking(t.conn(), booking_id))
                saga_step(t, out, *payment_id, "expired");
            return {};
        });
        if (!stepped.ok()) co_return stepped;
        auto p = co_await ctx_.db.read<std::optional<payment_row>>(
            [booking_id](db::connection& c) -> result<std::optional<payment_row>> {
                return live_payment_of_booking(c, booking_id);
            });
        if (!p.ok()) co_return p.err();
        if (!*p || (*p)->status != "pending" || !(*p)->psp_intent_id) co_return status{};
        co_return co_await psp_->cancel_intent(*(*p)->psp_intent_id);
    }

    // A cancelled booking: a declined payment's saga ends (seats released); a paid booking
    // cancelled by its buyer is refunded in full.
    awaitable<status> on_booking_cancelled(const bus::event& e) {
        const auto& o = e.payload.as_object();
        const auto booking_id = str(o, "booking_id");
        const auto* paid = o.if_contains("paid");
        const bool refund = paid && paid->is_bool() && paid->get_bool();
        co_return co_await saga_write([booking_id, refund](db::tx& t, tally& out) -> status {
            if (auto payment_id = saga_of_booking(t.conn(), booking_id))
                saga_step(t, out, *payment_id, "released");
            if (!refund) return {};
            auto p = live_payment_of_booking(t.conn(), booking_id);
            if (!p || p->status != "succeeded" || p->refunded == p->amount) return {};
            auto r = start_refund(t, out, *p, p->amount - p->refunded,
                                  "the booking was cancelled by its buyer", p->user_id);
            if (!r.ok())
                log::error("refund on cancellation refused",
                           {{"payment", p->id}, {"error", r.err().message}});
            return {};
        });
    }

    // Calls to the PSP happen after commit, from the outbox: a failure is delivered again with
    // back-off, and the reference (our id) keeps a repeated call from moving money twice.
    awaitable<status> send_refund(const bus::event& e) {
        const auto refund_id = str(e.payload.as_object(), "refund_id");
        struct work {
            refund_row refund;
            std::string intent_id;
        };
        auto r = co_await ctx_.db.read<std::optional<work>>(
            [refund_id](db::connection& c) -> result<std::optional<work>> {
                auto r = find_refund(c, refund_id);
                if (!r || r->psp_refund_id) return std::optional<work>();
                auto p = find_payment(c, r->payment_id);
                if (!p || !p->psp_intent_id) return std::optional<work>();
                return std::optional<work>(work{*r, *p->psp_intent_id});
            });
        if (!r.ok()) co_return r.err();
        if (!*r) co_return status{};
        auto sent = co_await psp_->refund((*r)->intent_id, refund_id, (*r)->refund.amount);
        if (!sent.ok()) co_return sent.err();
        co_return co_await saga_write([refund_id, psp_id = *sent](db::tx& t, tally&) -> status {
            t.prepare("UPDATE refunds SET psp_refund_id = ?, updated_ms = ? WHERE id = ?")
                .bind_all(psp_id, t.now_ms(), refund_id)
                .run();
            return {};
        });
    }

    awaitable<status> send_payout(const bus::event& e) {
        const auto payout_id = str(e.payload.as_object(), "payout_id");
        auto p = co_await ctx_.db.read<std::optional<payout_row>>(
            [payout_id](db::connection& c) -> result<std::optional<payout_row>> {
                return find_payout(c, payout_id);
            });
        if (!p.ok()) co_return p.err();
        if (!*p || (*p)->status != "in_transit" || (*p)->psp_payout_id) co_return status{};
        auto sent = co_await psp_->payout((*p)->id, (*p)->amount, (*p)->currency, (*p)->user_id);
        if (!sent.ok()) co_return sent.err();
        co_return co_await saga_write([payout_id, psp_id = *sent](db::tx& t, tally&) -> status {
            t.prepare("UPDATE payouts SET psp_payout_id = ?, updated_ms = ? WHERE id = ?")
                .bind_all(psp_id, t.now_ms(), payout_id)
                .run();
            return {};
        });
    }

    // Escrow: after the show (or at once, when configured), the seller's share of a sale, less
    // what was refunded, becomes available.
    awaitable<status> release_escrow(const db::timer_row& timer) {
        const std::string payment_id(timer.payload.at("payment_id").as_string());
        co_return co_await saga_write([payment_id](db::tx& t, tally& out) -> status {
            auto p = find_payment(t.conn(), payment_id);
            if (!p || p->escrow_released_ms) return {};
            if (p->status != "succeeded" && p->status != "refunded") return {};
            const auto share = (p->amount - p->fee) - (p->refunded - p->fee_refunded);
            SOUK_ASSERT(share >= 0);
            if (share > 0) {
                auto r = post(t, out,
                              {"escrow_release",
                               p->id,
                               p->currency,
                               {{seller_account(account_kind::seller_pending, *p), share},
                                {seller_account(account_kind::seller_available, *p), -share}}});
                if (!r.ok()) return r.err();
            }
            t.prepare("UPDATE payments SET escrow_released_ms = ?, updated_ms = ? WHERE id = ?")
                .bind_all(t.now_ms(), t.now_ms(), p->id)
                .run();
            t.publish("payment.escrow_released",
                      {{"payment_id", p->id}, {"seller_id", p->seller_id}, {"amount", share}});
            return {};
        });
    }

    // ---- balances and entries ---------------------------------------------------------------

    awaitable<response> balance(request& req) {
        auto r = co_await ctx_.db.read<boost::json::array>(
            [user = req.caller->user_id](db::connection& c) -> result<boost::json::array> {
                auto& st = c.prepare(
                    "SELECT currency, kind, balance FROM ledger_accounts WHERE owner_id = ? "
                    "ORDER BY currency");
                st.bind(1, user);
                std::map<std::string, std::map<std::string, std::int64_t>> by_currency;
                while (st.step())
                    by_currency[st.text(0)][st.text(1)] = -st.int64(2);
                st.reset();
                boost::json::array out;
                for (auto& [cur, kinds] : by_currency)
                    out.push_back(boost::json::object{
                        {"currency", cur},
                        {"pending", json::money(kinds["seller_pending"], cur)},
                        {"available", json::money(kinds["seller_available"], cur)},
                        {"payouts_pending", json::money(kinds["seller_payout_reserved"], cur)}});
                return out;
            });
        if (!r.ok()) co_return fail(req, r.err());
        co_return response::ok(*r);
    }

    awaitable<response> entries(request& req) {
        const auto paged = req.page();
        const auto page = paged.page, per_page = paged.per_page;
        struct listing {
            boost::json::array items;
            std::int64_t total = 0;
        };
        auto r = co_await ctx_.db.read<listing>(
            [user = req.caller->user_id, page, per_page](db::connection& c) -> result<listing> {
                listing l;
                auto& n = c.prepare(
                    "SELECT COUNT(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = "
                    "e.account_id WHERE a.owner_id = ?");
                n.bind(1, user);
                if (n.step()) l.total = n.int64(0);
                n.reset();
                auto& st = c.prepare(
                    "SELECT e.id, e.transfer_id, t.kind, a.kind, e.amount, e.currency, "
                    "t.reference, e.created_ms FROM ledger_entries e JOIN ledger_accounts a ON "
                    "a.id = e.account_id JOIN ledger_transfers t ON t.id = e.transfer_id WHERE "
                    "a.owner_id = ? ORDER BY e.id DESC LIMIT ? OFFSET ?");
                st.bind_all(user, per_page, (page - 1) * per_page);
                while (st.step()) {
                    std::string account = st.text(3);
                    if (account.starts_with("seller_")) account = account.substr(7);
                    l.items.push_back(boost::json::object{
                        {"id", st.int64(0)},
                        {"transfer_id", st.text(1)},
                        {"kind", st.text(2)},
                        {"account", account == "payout_reserved" ? "payout_reserved" : account},
                        {"amount", json::money(-st.int64(4), st.text(5))},
                        {"reference", st.text(6)},
                        {"created_at", format_rfc3339_ms(st.int64(7))}});
                }
                st.reset();
                return l;
            });
        if (!r.ok()) co_return fail(req, r.err());
        co_return response::list(r->items, page, per_page, r->total);
    }

    // ---- payouts ----------------------------------------------------------------------------

    // {"amount": {"amount": 2500, "currency": "USD"}} or {"amount": 2500, "currency": "USD"}
    static result<std::pair<std::int64_t, std::string>> payout_amount(const boost::json::value& v) {
        const auto* o = v.if_object();
        if (!o) return error::validation("amount", "required");
        const boost::json::object* m = o;
        if (const auto* inner = o->if_contains("amount"); inner && inner->is_object())
            m = &inner->as_object();
        const auto* a = m->if_contains("amount");
        const auto* c = m->if_contains("currency");
        boost::json::object fields;
        if (!a || !a->is_int64() || a->as_int64() < 1 || a->as_int64() > 1'000'000'000'000)
            fields["amount"] = "must be a positive amount in minor units";
        if (!c || !c->is_string() || c->as_string().size() != 3)
            fields["currency"] = "must be a 3-letter currency code";
        if (!fields.empty()) return error::validation(std::move(fields));
        return std::pair{a->as_int64(), std::string(c->as_string())};
    }

    awaitable<response> request_payout(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        auto amount = payout_amount(*body);
        if (!amount.ok()) co_return fail(req, amount.err());
        auto audit = http::audit_of(req, "payouts.requested", "payout", "");
        tally out;
        auto w = co_await ctx_.db.writer().write<payout_row>([this, amount = *amount, audit, &out](
                                                                 db::tx& t) -> result<payout_row> {
            out = {};  // a job may run again (db::write_job::run): count the last run only
            const auto& [value, currency] = amount;
            const auto available = ledger::seller_balance(
                t.conn(), ledger::seller(account_kind::seller_available, audit.actor_id, currency));
            if (value > available)
                return error::validation("amount", "more than the available balance (" +
                                                       std::to_string(available) + " " + currency +
                                                       ")");
            payout_row p{new_id("po"), audit.tenant_id, audit.actor_id, currency,
                         "pending_approval"};
            p.amount = value;
            p.created_ms = p.updated_ms = t.now_ms();
            t.prepare(
                 "INSERT INTO payouts (id, tenant_id, user_id, amount, currency, status, "
                 "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, 'pending_approval', ?, ?)")
                .bind_all(p.id, p.tenant_id, p.user_id, p.amount, p.currency, p.created_ms,
                          p.updated_ms)
                .run();
            auto moved =
                post(t, out,
                     {"payout_requested",
                      p.id,
                      currency,
                      {{ledger::seller(account_kind::seller_available, p.user_id, currency), value},
                       {ledger::seller(account_kind::seller_payout_reserved, p.user_id, currency),
                        -value}}});
            if (!moved.ok()) return error::validation("amount", "more than the available balance");
            auto a = audit;
            a.entity_id = p.id;
            a.details["amount"] = value;
            a.details["currency"] = currency;
            t.audit(a);
            out.payouts_changed = true;
            if (automatic_payouts_) {
                auto approval = a;
                approval.actor_id = "";
                approval.action = "payouts.approved";
                approval.details["reason"] = "automatic payouts";
                approve_in_tx(t, out, p, approval);
                p.status = "in_transit";
            }
            return p;
        });
        if (!w.ok()) co_return fail(req, w.err());
        count(out);
        co_await refresh_pending_gauge();
        co_return response::ok(to_json(*w), 201);
    }

    awaitable<response> list_payouts_where(request& req, std::string where, std::string key) {
        const auto paged = req.page();
        const auto page = paged.page, per_page = paged.per_page;
        struct listing {
            std::vector<payout_row> rows;
            std::int64_t total = 0;
            std::vector<std::string> emails;
        };
        auto r = co_await ctx_.db.read<listing>(
            [where, key, page, per_page](db::connection& c) -> result<listing> {
                listing l{list_payouts(c, where, key, per_page, (page - 1) * per_page),
                          count_payouts(c, where, key)};
                for (const auto& p : l.rows)
                    l.emails.push_back(identity::email_of(c, p.user_id).value_or(""));
                return l;
            });
        if (!r.ok()) co_return fail(req, r.err());
        boost::json::array items;
        for (std::size_t i = 0; i < r->rows.size(); ++i) {
            auto o = to_json(r->rows[i]);
            o["user_email"] = r->emails[i];
            items.push_back(std::move(o));
        }
        co_return response::list(items, page, per_page, r->total);
    }

    awaitable<response> list_own_payouts(request& req) {
        co_return co_await list_payouts_where(req, "user_id = ?", req.caller->user_id);
    }

    awaitable<response> admin_list_payouts(request& req) {
        const auto status = req.query_param("status");
        if (!status) co_return co_await list_payouts_where(req, "?1 = ?1", "all");
        static const std::vector<std::string> known{"pending_approval", "in_transit", "paid",
                                                    "denied"};
        if (std::find(known.begin(), known.end(), *status) == known.end())
            co_return fail(req, error::validation("status", "unknown status"));
        co_return co_await list_payouts_where(req, "status = ?", *status);
    }

    // Approve or deny: one audited decision on a payout that awaits one.
    awaitable<response> decide(request& req, bool approve) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto reason =
            approve ? f.optional_string("reason", 500) : f.required_string("reason", 1, 500);
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());
        const std::string id(req.param("id"));
        auto audit = http::audit_of(req, approve ? "payouts.approved" : "payouts.denied", "payout",
                                    id, {{"reason", reason.value_or("")}});
        tally out;
        auto w = co_await ctx_.db.writer().write<payout_row>(
            [id, approve, audit, &out](db::tx& t) -> result<payout_row> {
                auto p = find_payout(t.conn(), id);
                if (!p) return error::not_found("no such payout");
                if (p->status != "pending_approval")
                    return error::conflict("INVALID_STATE", "the payout is " + p->status);
                if (approve) {
                    approve_in_tx(t, out, *p, audit);
                } else {
                    const auto moved = post(
                        t, out,
                        {"payout_denied",
                         p->id,
                         p->currency,
                         {{ledger::seller(account_kind::seller_payout_reserved, p->user_id,
                                          p->currency),
                           p->amount},
                          {ledger::seller(account_kind::seller_available, p->user_id, p->currency),
                           -p->amount}}});
                    SOUK_ASSERT(moved.ok());  // balances checked before: cannot go short
                    t.prepare(
                         "UPDATE payouts SET status = 'denied', decided_by = ?, decided_ms = ?, "
                         "reason = ?, updated_ms = ? WHERE id = ?")
                        .bind_all(audit.actor_id, t.now_ms(),
                                  std::string(audit.details.at("reason").as_string()), t.now_ms(),
                                  p->id)
                        .run();
                    t.audit(audit);
                    t.publish("payout.denied", {{"payout_id", p->id}, {"user_id", p->user_id}});
                    out.payouts_changed = true;
                }
                return *find_payout(t.conn(), id);
            });
        if (!w.ok()) co_return fail(req, w.err());
        count(out);
        co_await refresh_pending_gauge();
        co_return response::ok(to_json(*w));
    }

    awaitable<response> approve_payout(request& req) { co_return co_await decide(req, true); }
    awaitable<response> deny_payout(request& req) { co_return co_await decide(req, false); }

    awaitable<response> set_fee(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto bps = f.required_int("bps", 0, 10'000);
        if (auto st = f.check(); !st.ok()) co_return fail(req, st.err());
        const std::string tenant(req.param("tenant"));
        auto audit = http::audit_of(req, "payouts.fee_changed", "tenant", tenant, {{"bps", *bps}});
        auto w = co_await ctx_.db.writer().write<bool>(
            [tenant, bps = *bps, audit](db::tx& t) -> result<bool> {
                t.prepare(
                     "INSERT INTO fee_rates (tenant_id, bps, updated_ms) VALUES (?, ?, ?) ON "
                     "CONFLICT (tenant_id) DO UPDATE SET bps = excluded.bps, updated_ms = "
                     "excluded.updated_ms")
                    .bind_all(tenant, bps, t.now_ms())
                    .run();
                t.audit(audit);
                return true;
            });
        if (!w.ok()) co_return fail(req, w.err());
        co_return response::ok(boost::json::object{{"tenant", tenant}, {"bps", *bps}});
    }

    awaitable<void> refresh_pending_gauge() {
        auto n = co_await ctx_.db.read<std::int64_t>([](db::connection& c) -> result<std::int64_t> {
            return count_payouts(c, "status = ?", "pending_approval");
        });
        if (n.ok()) metric_families::get().payouts_pending.Set(static_cast<double>(*n));
    }

    context& ctx_;
    std::unique_ptr<psp_simulator> sim_;
    std::unique_ptr<psp_adapter> psp_;
    http_psp_options psp_options_;
    std::vector<std::string> secrets_;
    std::int64_t default_fee_bps_ = 500;
    bool release_on_payment_ = false;
    std::int64_t release_delay_ms_ = 0;
    bool automatic_payouts_ = false;
};

}  // namespace

std::unique_ptr<module> make_module(context& ctx) {
    booking::find_succeeded_payments_with(
        [](db::connection& c, std::string_view booking_id) -> std::optional<std::string> {
            auto& st = c.prepare(
                "SELECT id FROM payments WHERE booking_id = ? AND status = 'succeeded' LIMIT 1");
            st.bind(1, booking_id);
            std::optional<std::string> id;
            if (st.step()) id = st.text(0);
            st.reset();
            return id;
        });
    return std::make_unique<payouts_module>(ctx);
}

std::vector<std::string> check_invariants(db::connection& c) {
    auto problems = ledger::check(c);
    collect_problems(c,
                     "SELECT p.id FROM payments p WHERE p.status IN ('succeeded', 'refunded') AND "
                     "NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.kind = 'sale' AND "
                     "t.reference = p.id)",
                     problems, [](db::statement& st) {
                         return "payment " + st.text(0) + " succeeded without a sale transfer";
                     });
    collect_problems(c,
                     "SELECT p.id, p.refunded, COALESCE((SELECT SUM(amount) FROM refunds r WHERE "
                     "r.payment_id = p.id), 0) AS s FROM payments p WHERE p.refunded <> s",
                     problems, [](db::statement& st) {
                         return "payment " + st.text(0) + ": refunded " +
                                std::to_string(st.int64(1)) + " but its refunds sum to " +
                                std::to_string(st.int64(2));
                     });
    return problems;
}

}  // namespace souk::payouts
