#pragma once
// The payouts module's public face (payments, the checkout saga, the ledger and payouts): the
// module factory and the invariant check used by `souk check`. The ledger itself is in
// ledger.hpp.
#include <memory>
#include <souk/db/connection.hpp>
#include <souk/kernel.hpp>
#include <string>
#include <vector>

namespace souk::payouts {

std::unique_ptr<module> make_module(context& ctx);

// Money invariants in SQLite: the ledger's (every transfer balanced, balances equal entries and
// sum to zero, no seller balance negative) and the payments' (a succeeded payment has its sale
// posted, refunds within the amount). One line per problem; empty when clean.
std::vector<std::string> check_invariants(db::connection& c);

}  // namespace souk::payouts
