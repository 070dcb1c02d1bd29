// The simulated PSP (psp_simulator.hpp).
#include "psp_simulator.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <souk/core/crypto.hpp>
#include <souk/core/random.hpp>
#include <souk/http/client.hpp>
#include <souk/http/json.hpp>
#include <souk/log/log.hpp>

#include "signature.hpp"

namespace souk::payouts {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using http::request;
using http::response;

constexpr std::int64_t retry_ms_max = 60'000;

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string display_amount(std::int64_t minor, std::string_view currency) {
    return std::string(currency) + " " + std::to_string(minor / 100) + "." +
           (minor % 100 < 10 ? "0" : "") + std::to_string(minor % 100);
}

bool luhn_valid(std::string_view digits) {
    int sum = 0;
    bool twice = false;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        int d = *it - '0';
        if (twice && (d *= 2) > 9) d -= 9;
        sum += d;
        twice = !twice;
    }
    return sum % 10 == 0;
}

std::string digits_of(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c >= '0' && c <= '9') {
            out += c;
        } else if (c != ' ' && c != '-') {
            return {};
        }
    }
    return out;
}

// "MM/YY", not in the past.
bool expiry_valid(std::string_view s, std::int64_t now_ms) {
    const auto d =
        digits_of(std::string(s.substr(0, 2)) + std::string(s.size() > 3 ? s.substr(3) : ""));
    if (s.size() != 5 || s[2] != '/' || d.size() != 4) return false;
    const int month = std::stoi(d.substr(0, 2)), year = 2000 + std::stoi(d.substr(2));
    if (month < 1 || month > 12) return false;
    const auto today =
        std::chrono::floor<std::chrono::days>(sys_time(std::chrono::milliseconds(now_ms)));
    const std::chrono::year_month_day ymd{today};
    return year > static_cast<int>(ymd.year()) ||
           (year == static_cast<int>(ymd.year()) &&
            month >= static_cast<int>(static_cast<unsigned>(ymd.month())));
}

struct intent_row {
    std::string id, reference, currency, return_url, status;
    std::int64_t amount = 0, charges = 0, refunded = 0;
};

std::optional<intent_row> find_intent(db::connection& c, std::string_view where,
                                      std::string_view key) {
    auto& st = c.prepare(
        "SELECT id, reference, currency, return_url, status, amount, charges, refunded FROM "
        "psp_sim_intents WHERE " +
        std::string(where));
    st.bind(1, key);
    std::optional<intent_row> out;
    if (st.step())
        out = intent_row{st.text(0), st.text(1),  st.text(2),  st.text(3),
                         st.text(4), st.int64(5), st.int64(6), st.int64(7)};
    st.reset();
    return out;
}

// Queues a webhook to the merchant in the caller's transaction; delivered after commit.
void queue_webhook(db::tx& t, std::string type, boost::json::object data) {
    const std::string id = new_id("evt");
    const boost::json::object body{
        {"id", id}, {"type", type}, {"created", t.now_ms() / 1000}, {"data", std::move(data)}};
    t.prepare("INSERT INTO psp_sim_webhooks (id, type, body, created_ms) VALUES (?, ?, ?, ?)")
        .bind_all(id, type, json::serialize(body), t.now_ms())
        .run();
    t.schedule("psp_sim.deliver", t.now_ms(), {{"id", id}});
}

// The id already given to a merchant reference in `table`: creating twice is creating once.
std::optional<std::string> id_for_reference(db::tx& t, std::string_view table,
                                            const std::string& reference) {
    auto& st = t.prepare("SELECT id FROM " + std::string(table) + " WHERE reference = ?");
    st.bind(1, reference);
    std::optional<std::string> id;
    if (st.step()) id = st.text(0);
    st.reset();
    return id;
}

boost::json::object payment_data(const intent_row& i) {
    return {{"payment_id", i.reference},
            {"intent_id", i.id},
            {"amount", i.amount},
            {"currency", i.currency}};
}

// The provider answers with bare JSON objects, as PSPs do (not Souk's envelope).
response provider_json(const boost::json::object& o) {
    return response::raw(200, "application/json", json::serialize(o));
}

class simulator final : public psp_simulator {
  public:
    simulator(context& ctx, simulator_options o) : ctx_(ctx), o_(std::move(o)) {}

    void mount() {
        auto& r = ctx_.router;
        auto bind = [this](awaitable<response> (simulator::*fn)(request&)) {
            return [this, fn](request& req) { return (this->*fn)(req); };
        };
        r.post("/psp/v1/intents", {.summary = "Simulated PSP: create a payment intent"},
               bind(&simulator::create_intent));
        r.post("/psp/v1/intents/{id}/cancel",
               {.summary = "Simulated PSP: cancel an intent not paid yet"},
               bind(&simulator::cancel_intent));
        r.post("/psp/v1/refunds", {.summary = "Simulated PSP: refund a charge"},
               bind(&simulator::create_refund));
        r.post("/psp/v1/payouts", {.summary = "Simulated PSP: pay a seller out"},
               bind(&simulator::create_payout));
        r.get("/psp/checkout/{id}", {.summary = "Simulated PSP: the hosted checkout page"},
              bind(&simulator::checkout_page));
        r.post("/psp/checkout/{id}",
               {.json_body = false, .summary = "Simulated PSP: pay with a test card"},
               bind(&simulator::pay));
        r.get("/psp/checkout.css", {.summary = "Simulated PSP: the checkout page's style"},
              bind(&simulator::stylesheet));
        ctx_.scheduler.on("psp_sim.deliver", [this](const db::timer_row& t) { return deliver(t); });
        ctx_.scheduler.on("psp_sim.settle", [this](const db::timer_row& t) { return settle(t); });
    }

  private:
    // ---- the merchant API --------------------------------------------------------------------

    // The merchant's key checked and the body parsed, or the answer that refuses the call.
    result<boost::json::value> authorized_body(const request& req) const {
        const auto auth = req.header("Authorization");
        if (auth.size() <= 7 || auth.substr(0, 7) != "Bearer " ||
            !crypto::constant_time_equal(auth.substr(7), o_.api_key))
            return error::unauthenticated("invalid API key");
        return req.json();
    }

    awaitable<response> create_intent(request& req) {
        auto body = authorized_body(req);
        if (!body.ok()) co_return response::fail(body.err(), req.request_id);
        json::fields f(*body);
        auto reference = f.required_string("reference", 1, 100);
        auto amount = f.required_int("amount", 1, 1'000'000'000'000);
        auto currency = f.required_string("currency", 3, 3);
        auto return_url = f.required_string("return_url", 1, 2000);
        if (auto st = f.check(); !st.ok()) co_return response::fail(st.err(), req.request_id);
        auto w = co_await ctx_.db.writer().write<intent_row>(
            [ref = *reference, amount = *amount, currency = *currency,
             url = *return_url](db::tx& t) -> result<intent_row> {
                if (auto seen = find_intent(t.conn(), "reference = ?", ref)) return *seen;
                intent_row i{new_id("pi"), ref, currency, url, "requires_payment", amount};
                t.prepare(
                     "INSERT INTO psp_sim_intents (id, reference, amount, currency, return_url, "
                     "status, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind_all(i.id, i.reference, i.amount, i.currency, i.return_url, i.status,
                              t.now_ms(), t.now_ms())
                    .run();
                return i;
            });
        if (!w.ok()) co_return response::fail(w.err(), req.request_id);
        co_return provider_json(boost::json::object{
            {"id", w->id},
            {"status", w->status},
            {"checkout_url", origin_of(w->return_url) + "psp/checkout/" + w->id}});
    }

    // An intent still waiting for its card fails (webhook payment.failed, reason "canceled");
    // one already charged or being charged is answered as it is.
    awaitable<response> cancel_intent(request& req) {
        auto body = authorized_body(req);
        if (!body.ok()) co_return response::fail(body.err(), req.request_id);
        auto w = co_await ctx_.db.writer().write<intent_row>([id = std::string(req.param("id"))](
                                                                 db::tx& t) -> result<intent_row> {
            auto i = find_intent(t.conn(), "id = ?", id);
            if (!i) return error::not_found("no such intent");
            if (i->status != "requires_payment") return *i;
            t.prepare("UPDATE psp_sim_intents SET status = 'failed', updated_ms = ? WHERE id = ?")
                .bind_all(t.now_ms(), id)
                .run();
            i->status = "failed";
            auto data = payment_data(*i);
            data["reason"] = "canceled";
            queue_webhook(t, "payment.failed", std::move(data));
            return *i;
        });
        if (!w.ok()) co_return response::fail(w.err(), req.request_id);
        co_return provider_json({{"id", w->id}, {"status", w->status}});
    }

    awaitable<response> create_refund(request& req) {
        auto body = authorized_body(req);
        if (!body.ok()) co_return response::fail(body.err(), req.request_id);
        json::fields f(*body);
        auto intent_id = f.required_string("intent_id", 1, 100);
        auto reference = f.required_string("reference", 1, 100);
        auto amount = f.required_int("amount", 1, 1'000'000'000'000);
        if (auto st = f.check(); !st.ok()) co_return response::fail(st.err(), req.request_id);
        auto w = co_await ctx_.db.writer().write<std::string>(
            [intent_id = *intent_id, ref = *reference,
             amount = *amount](db::tx& t) -> result<std::string> {
                if (auto seen = id_for_reference(t, "psp_sim_refunds", ref)) return *seen;
                auto i = find_intent(t.conn(), "id = ?", intent_id);
                if (!i || i->status != "succeeded") return error::not_found("no such charge");
                if (i->refunded + amount > i->amount)
                    return error::validation("amount", "more than the charge has left");
                const std::string id = new_id("re");
                t.prepare(
                     "INSERT INTO psp_sim_refunds (id, reference, intent_id, amount, created_ms) "
                     "VALUES (?, ?, ?, ?, ?)")
                    .bind_all(id, ref, intent_id, amount, t.now_ms())
                    .run();
                t.prepare(
                     "UPDATE psp_sim_intents SET refunded = refunded + ?, updated_ms = ? "
                     "WHERE id = ?")
                    .bind_all(amount, t.now_ms(), intent_id)
                    .run();
                auto data = payment_data(*i);
                data["refund_id"] = ref;
                data["amount"] = amount;
                queue_webhook(t, "refund.succeeded", std::move(data));
                return id;
            });
        if (!w.ok()) co_return response::fail(w.err(), req.request_id);
        co_return provider_json(boost::json::object{{"id", *w}, {"status", "succeeded"}});
    }

    awaitable<response> create_payout(request& req) {
        auto body = authorized_body(req);
        if (!body.ok()) co_return response::fail(body.err(), req.request_id);
        json::fields f(*body);
        auto reference = f.required_string("reference", 1, 100);
        auto amount = f.required_int("amount", 1, 1'000'000'000'000);
        auto currency = f.required_string("currency", 3, 3);
        if (auto st = f.check(); !st.ok()) co_return response::fail(st.err(), req.request_id);
        auto w = co_await ctx_.db.writer().write<std::string>(
            [ref = *reference, amount = *amount,
             currency = *currency](db::tx& t) -> result<std::string> {
                if (auto seen = id_for_reference(t, "psp_sim_payouts", ref)) return *seen;
                const std::string id = new_id("po");
                t.prepare(
                     "INSERT INTO psp_sim_payouts (id, reference, amount, currency, created_ms) "
                     "VALUES (?, ?, ?, ?, ?)")
                    .bind_all(id, ref, amount, currency, t.now_ms())
                    .run();
                queue_webhook(t, "payout.paid",
                              {{"payout_id", ref},
                               {"psp_payout_id", id},
                               {"amount", amount},
                               {"currency", currency}});
                return id;
            });
        if (!w.ok()) co_return response::fail(w.err(), req.request_id);
        co_return provider_json(boost::json::object{{"id", *w}, {"status", "in_transit"}});
    }

    // The checkout page is served where the merchant's buyer already is (this very server): the
    // origin of the return URL, else our public URL.
    std::string origin_of(const std::string& return_url) const {
        auto u = boost::urls::parse_absolute_uri(return_url);
        if (!u || (u->scheme() != "http" && u->scheme() != "https") || !u->has_authority())
            return o_.public_url();
        return std::string(u->scheme()) + "://" + std::string(u->encoded_host_and_port()) + "/";
    }

    // ---- the hosted checkout page ------------------------------------------------------------

    static std::string with_result(const std::string& url, std::string_view result) {
        return url + (url.find('?') == std::string::npos ? "?" : "&") +
               "result=" + std::string(result);
    }

    static response page(int status, const std::string& title, const std::string& main) {
        response r = response::raw(
            status, "text/html; charset=utf-8",
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
            "name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" +
                html_escape(title) +
                " - Souk test PSP</title><link rel=\"stylesheet\" "
                "href=\"/psp/checkout.css\"></head><body><main>" +
                main + "</main></body></html>");
        r.set_header("Cache-Control", "no-store");
        return r;
    }

    static response form_page(const intent_row& i, int status, std::string_view problem) {
        const auto amount = html_escape(display_amount(i.amount, i.currency));
        std::string m = "<h1>Souk test payments</h1><p class=\"amount\">Amount due: <strong>" +
                        amount + "</strong></p>";
        if (!problem.empty())
            m += "<p role=\"alert\" class=\"error\">" + html_escape(problem) + "</p>";
        m += "<form method=\"post\" action=\"/psp/checkout/" + html_escape(i.id) +
             "\"><label for=\"card-name\">Name on card</label><input id=\"card-name\" "
             "name=\"name\" autocomplete=\"cc-name\"><label for=\"card-number\">Card "
             "number</label><input id=\"card-number\" name=\"card_number\" inputmode=\"numeric\" "
             "autocomplete=\"cc-number\" required><label for=\"card-expiry\">Expiry "
             "(MM/YY)</label><input id=\"card-expiry\" name=\"expiry\" autocomplete=\"cc-exp\" "
             "placeholder=\"12/34\" required><label for=\"card-cvc\">CVC</label><input "
             "id=\"card-cvc\" name=\"cvc\" inputmode=\"numeric\" autocomplete=\"cc-csc\" "
             "required><button type=\"submit\">Pay " +
             amount +
             "</button></form><section aria-labelledby=\"test-cards\"><h2 "
             "id=\"test-cards\">Test cards</h2><ul><li>4242 4242 4242 4242: succeeds</li><li>4000 "
             "0000 0000 0002: declined</li><li>4000 0000 0000 3063: succeeds after a "
             "delay</li></ul><p>Any future expiry date and any 3 digits for the CVC.</p></section>"
             "<p><a href=\"" +
             html_escape(with_result(i.return_url, "cancelled")) +
             "\">Cancel and return to the shop</a></p>";
        return page(status, "Pay", m);
    }

    awaitable<response> checkout_page(request& req) {
        auto i = co_await ctx_.db.read<std::optional<intent_row>>(
            [id = std::string(req.param("id"))](db::connection& c)
                -> result<std::optional<intent_row>> { return find_intent(c, "id = ?", id); });
        if (!i.ok()) co_return response::fail(i.err(), req.request_id);
        if (!*i) co_return page(404, "Not found", "<h1>No such payment</h1>");
        if ((*i)->status != "requires_payment")
            co_return page(200, "Done",
                           "<h1>This payment is " + html_escape((*i)->status) +
                               "</h1><p><a href=\"" +
                               html_escape(with_result((*i)->return_url, (*i)->status)) +
                               "\">Return to the shop</a></p>");
        co_return form_page(**i, 200, "");
    }

    // The card decides: charged now, declined, or charged later (processing).
    awaitable<response> pay(request& req) {
        const std::string id(req.param("id"));
        const auto number = digits_of(req.form_param("card_number").value_or(""));
        const auto expiry = req.form_param("expiry").value_or("");
        const auto cvc = digits_of(req.form_param("cvc").value_or(""));
        std::string problem;
        if (number.size() < 12 || number.size() > 19 || !luhn_valid(number)) {
            problem = "The card number is not valid.";
        } else if (!expiry_valid(expiry, ctx_.clock.now_ms())) {
            problem = "The expiry date must be a month in the future, as MM/YY.";
        } else if (cvc.size() < 3 || cvc.size() > 4) {
            problem = "The CVC is 3 or 4 digits.";
        } else if (number != card_succeeds && number != card_declined && number != card_late) {
            problem = "This is a test environment: use one of the test cards below.";
        }
        auto w = co_await ctx_.db.writer().write<intent_row>(
            [id, number, problem, late = o_.late_success_ms](db::tx& t) -> result<intent_row> {
                auto i = find_intent(t.conn(), "id = ?", id);
                if (!i) return error::not_found("no such payment");
                if (!problem.empty() || i->status != "requires_payment") return *i;
                if (number == card_succeeds) {
                    i->status = "succeeded";
                    i->charges = 1;
                } else if (number == card_declined) {
                    i->status = "failed";
                } else {
                    i->status = "processing";
                    t.schedule("psp_sim.settle", t.now_ms() + late, {{"id", i->id}});
                }
                t.prepare(
                     "UPDATE psp_sim_intents SET status = ?, charges = ?, card_last4 = ?, "
                     "updated_ms = ? WHERE id = ?")
                    .bind_all(i->status, i->charges, number.substr(number.size() - 4), t.now_ms(),
                              i->id)
                    .run();
                if (i->status == "succeeded")
                    queue_webhook(t, "payment.succeeded", payment_data(*i));
                if (i->status == "failed")
                    queue_webhook(t, "payment.failed", [&] {
                        auto d = payment_data(*i);
                        d["reason"] = "card_declined";
                        return d;
                    }());
                return *i;
            });
        if (!w.ok()) {
            if (w.err().status == 404) co_return page(404, "Not found", "<h1>No such payment</h1>");
            co_return response::fail(w.err(), req.request_id);
        }
        if (!problem.empty() && w->status == "requires_payment")
            co_return form_page(*w, 422, problem);
        response r = response::raw(303, "text/plain", "");
        r.set_header("Location", with_result(w->return_url, w->status));
        co_return r;
    }

    awaitable<response> stylesheet(request&) {
        response r = response::raw(
            200, "text/css; charset=utf-8",
            "body{font:16px/1.5 system-ui,sans-serif;background:#f4f4f6;color:#1a1a1a;margin:0}"
            "main{max-width:28rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:"
            "8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}label{display:block;margin-top:.75rem;"
            "font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;"
            "border:1px solid #6b6b6b;border-radius:4px}button{margin-top:1.25rem;width:100%;"
            "padding:.75rem;font-size:1rem;background:#1d4ed8;color:#fff;border:0;border-radius:"
            "4px;cursor:pointer}button:focus,input:focus,a:focus{outline:3px solid #f59e0b;"
            "outline-offset:2px}.error{color:#9b1c1c;background:#fde8e8;padding:.5rem;"
            "border-radius:4px}a{color:#1d4ed8}");
        r.set_header("Cache-Control", "public, max-age=3600");
        co_return r;
    }

    // ---- settling late charges and delivering webhooks ---------------------------------------

    awaitable<status> settle(const db::timer_row& timer) {
        const std::string id(timer.payload.at("id").as_string());
        auto w = co_await ctx_.db.writer().write<bool>([id](db::tx& t) -> result<bool> {
            auto i = find_intent(t.conn(), "id = ?", id);
            if (!i || i->status != "processing") return true;
            t.prepare(
                 "UPDATE psp_sim_intents SET status = 'succeeded', charges = 1, updated_ms = ? "
                 "WHERE id = ?")
                .bind_all(t.now_ms(), id)
                .run();
            i->status = "succeeded";
            queue_webhook(t, "payment.succeeded", payment_data(*i));
            return true;
        });
        co_return w.ok() ? status{} : status(w.err());
    }

    // Signs at send time (as providers do), posts, and on anything but a 2xx tries again later
    // with exponential back-off.
    awaitable<status> deliver(const db::timer_row& timer) {
        const std::string id(timer.payload.at("id").as_string());
        struct pending {
            std::string body;
            std::int64_t attempts = 0;
        };
        auto row = co_await ctx_.db.read<std::optional<pending>>(
            [id](db::connection& c) -> result<std::optional<pending>> {
                auto& st = c.prepare(
                    "SELECT body, attempts FROM psp_sim_webhooks WHERE id = ? AND delivered_ms "
                    "IS NULL");
                st.bind(1, id);
                std::optional<pending> out;
                if (st.step()) out = pending{st.text(0), st.int64(1)};
                st.reset();
                return out;
            });
        if (!row.ok()) co_return row.err();
        if (!*row) co_return status{};
        const auto now_s = ctx_.clock.now_ms() / 1000;
        http::outgoing_request req{
            .method = http::method::post,
            .url = o_.webhook_url(),
            .headers = {{"Souk-Signature", sign_header(o_.signing_secrets, now_s, (*row)->body)}},
            .body = (*row)->body,
            .timeout = std::chrono::seconds(10)};
        auto res =
            co_await http::send(ctx_.executors.front(), std::move(req), {.verify_tls = false});
        const bool delivered = res.ok() && res->status / 100 == 2;
        const auto attempts = (*row)->attempts + 1;
        const auto retry_ms =
            std::min<std::int64_t>(retry_ms_max, 250LL << std::min<std::int64_t>(attempts, 12));
        if (!delivered)
            log::warn("psp simulator: webhook not accepted",
                      {{"event", id},
                       {"attempt", attempts},
                       {"status", res.ok() ? res->status : 0},
                       {"retry_ms", retry_ms}});
        auto w = co_await ctx_.db.writer().write<bool>([id, delivered, attempts,
                                                        retry_ms](db::tx& t) -> result<bool> {
            t.prepare("UPDATE psp_sim_webhooks SET attempts = ?, delivered_ms = ? WHERE id = ?")
                .bind_all(attempts,
                          delivered ? std::optional<std::int64_t>(t.now_ms()) : std::nullopt, id)
                .run();
            if (!delivered) t.schedule("psp_sim.deliver", t.now_ms() + retry_ms, {{"id", id}});
            return true;
        });
        co_return w.ok() ? status{} : status(w.err());
    }

    context& ctx_;
    simulator_options o_;
};

}  // namespace

std::unique_ptr<psp_simulator> mount_psp_simulator(context& ctx, simulator_options o) {
    auto s = std::make_unique<simulator>(ctx, std::move(o));
    s->mount();
    return s;
}

}  // namespace souk::payouts
