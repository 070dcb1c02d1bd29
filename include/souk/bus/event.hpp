#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

namespace souk::bus {

// An integration event. `id` is unique: subscribers deduplicate on it (delivery is at least once).
struct event {
    std::string id;
    std::string type;  // "<module>.<what>", e.g. "booking.created"
    boost::json::value payload;
    std::int64_t created_ms = 0;
    std::int64_t seq = 0;  // its row in the outbox: the commit order
};

}  // namespace souk::bus
