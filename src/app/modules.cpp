#include <souk/booking/booking.hpp>
#include <souk/identity/identity.hpp>
#include <souk/payouts/payouts.hpp>
#include <souk/testkit/module.hpp>

#include "app/cli.hpp"

namespace souk::app {

// The bounded contexts linked into this binary, in start-up order. A module's factory lives in
// its public header (include/souk/<module>/module.hpp).
std::vector<std::unique_ptr<module>> build_modules(context& ctx) {
    std::vector<std::unique_ptr<module>> out;
    out.push_back(identity::make_module(ctx));
    out.push_back(booking::make_module(ctx));
    out.push_back(payouts::make_module(ctx));
    if (ctx.cfg.env == "test") out.push_back(testkit::make_module(ctx));
    return out;
}

}  // namespace souk::app
