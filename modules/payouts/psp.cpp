// The HTTP adapter for the simulated PSP's API ("/psp/v1/..."): JSON in and out, bearer key.
#include "psp.hpp"

#include <boost/json.hpp>
#include <souk/http/client.hpp>
#include <souk/http/json.hpp>
#include <souk/log/log.hpp>

namespace souk::payouts {

namespace {

namespace asio = boost::asio;

class http_psp final : public psp_adapter {
  public:
    http_psp(asio::any_io_executor ex, http_psp_options o) : ex_(std::move(ex)), o_(std::move(o)) {}

    asio::awaitable<result<intent>> create_intent(intent_request r) override {
        auto body = co_await call("v1/intents", {{"reference", r.reference},
                                                 {"amount", r.amount},
                                                 {"currency", r.currency},
                                                 {"return_url", r.return_url},
                                                 {"description", r.description}});
        if (!body.ok()) co_return body.err();
        const auto* id = body->if_contains("id");
        const auto* url = body->if_contains("checkout_url");
        if (!id || !id->is_string() || !url || !url->is_string())
            co_return error::unavailable("the PSP answered without an intent");
        co_return intent{std::string(id->get_string()), std::string(url->get_string())};
    }

    asio::awaitable<result<std::string>> refund(std::string intent_id, std::string reference,
                                                std::int64_t amount) override {
        co_return id_of(co_await call(
            "v1/refunds",
            {{"intent_id", intent_id}, {"reference", reference}, {"amount", amount}}));
    }

    asio::awaitable<status> cancel_intent(std::string intent_id) override {
        auto r = co_await call("v1/intents/" + intent_id + "/cancel", {});
        if (!r.ok()) co_return r.err();
        co_return status{};
    }

    asio::awaitable<result<std::string>> payout(std::string reference, std::int64_t amount,
                                                std::string currency,
                                                std::string seller_id) override {
        co_return id_of(co_await call("v1/payouts", {{"reference", reference},
                                                     {"amount", amount},
                                                     {"currency", currency},
                                                     {"destination", seller_id}}));
    }

  private:
    static result<std::string> id_of(result<boost::json::object> body) {
        if (!body.ok()) return body.err();
        const auto* id = body->if_contains("id");
        if (!id || !id->is_string()) return error::unavailable("the PSP answered without an id");
        return std::string(id->get_string());
    }

    // A 2xx with a JSON object is the answer; anything else is the PSP being unavailable (the
    // caller retries with the same reference).
    asio::awaitable<result<boost::json::object>> call(std::string path, boost::json::object body) {
        http::outgoing_request req{.method = http::method::post,
                                   .url = o_.base_url + path,
                                   .headers = {{"Authorization", "Bearer " + o_.api_key}},
                                   .body = json::serialize(body),
                                   .timeout = std::chrono::seconds(10)};
        auto res = co_await http::send(ex_, std::move(req), {.verify_tls = o_.verify_tls});
        if (!res.ok()) co_return res.err();
        if (res->status / 100 != 2) {
            log::warn("PSP call refused", {{"path", path}, {"status", res->status}});
            co_return error::unavailable("the PSP answered " + std::to_string(res->status));
        }
        auto parsed = json::parse(res->body);
        if (!parsed.ok() || !parsed->is_object())
            co_return error::unavailable("the PSP answered with something else than JSON");
        co_return std::move(parsed->get_object());
    }

    asio::any_io_executor ex_;
    http_psp_options o_;
};

}  // namespace

std::unique_ptr<psp_adapter> make_http_psp(asio::any_io_executor ex, http_psp_options o) {
    return std::make_unique<http_psp>(std::move(ex), std::move(o));
}

}  // namespace souk::payouts
