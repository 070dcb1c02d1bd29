#pragma once
// The seam to a payment service provider. Souk ships one adapter, which speaks the simulated
// PSP's HTTP API (psp_simulator.hpp); a real provider gets its own adapter behind this interface.
// Every call carries the merchant's reference, so that repeating a call (after a timeout or a
// crash) never creates a second intent, refund or payout.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <souk/core/result.hpp>
#include <string>

namespace souk::payouts {

struct intent_request {
    std::string reference;  // our payment id
    std::int64_t amount = 0;
    std::string currency;
    std::string return_url;  // where the hosted checkout sends the buyer afterwards
    std::string description;
};

struct intent {
    std::string id;
    std::string checkout_url;
};

class psp_adapter {
  public:
    virtual ~psp_adapter() = default;
    virtual boost::asio::awaitable<result<intent>> create_intent(intent_request r) = 0;
    // Returns the provider's refund id.
    virtual boost::asio::awaitable<result<std::string>> refund(std::string intent_id,
                                                               std::string reference,
                                                               std::int64_t amount) = 0;
    // Stops an intent that was never paid (the hold ran out): the provider answers with a
    // payment.failed webhook. An intent already charged or being charged is left alone (ok):
    // its success arrives and is refunded.
    virtual boost::asio::awaitable<status> cancel_intent(std::string intent_id) = 0;
    // Sends money to a seller; returns the provider's payout id. Completion arrives as a webhook.
    virtual boost::asio::awaitable<result<std::string>> payout(std::string reference,
                                                               std::int64_t amount,
                                                               std::string currency,
                                                               std::string seller_id) = 0;
};

struct http_psp_options {
    std::string base_url;  // e.g. "https://127.0.0.1:8443/psp/" (ends with '/')
    std::string api_key;
    bool verify_tls = true;
};

std::unique_ptr<psp_adapter> make_http_psp(boost::asio::any_io_executor ex, http_psp_options o);

}  // namespace souk::payouts
