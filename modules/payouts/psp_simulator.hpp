#pragma once
// The built-in simulated PSP. It stands for a provider outside Souk and is only ever reached over
// HTTP: its merchant API (/psp/v1/intents, /refunds, /payouts, bearer key), a hosted checkout page
// (/psp/checkout/{intent}) with test cards, and signed webhooks to the merchant, retried with
// back-off until answered 2xx (durably: they survive a restart).
//
// Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined; 4000 0000 0000 3063
// succeeds late (after late_success_ms).
#include <functional>
#include <memory>
#include <souk/kernel.hpp>
#include <string>
#include <vector>

namespace souk::payouts {

inline constexpr std::string_view card_succeeds = "4242424242424242";
inline constexpr std::string_view card_declined = "4000000000000002";
inline constexpr std::string_view card_late = "4000000000003063";

struct simulator_options {
    std::string api_key;
    std::vector<std::string> signing_secrets;  // the first is current; all sign during rotation
    std::function<std::string()> webhook_url;
    std::function<std::string()> public_url;  // where buyers reach the checkout page (ends '/')
    std::int64_t late_success_ms = 20'000;
};

// Owned by whoever mounts it; it must outlive the router and the scheduler's use of it.
class psp_simulator {
  public:
    virtual ~psp_simulator() = default;
};

std::unique_ptr<psp_simulator> mount_psp_simulator(context& ctx, simulator_options o);

}  // namespace souk::payouts
