#include <boost/asio/io_context.hpp>
#include <souk/core/assert.hpp>
#include <souk/inventory/engine.hpp>

namespace souk::inventory {

namespace {
std::string owner_key(const std::string& group, const std::string& owner) {
    std::string k;
    k.reserve(group.size() + owner.size() + 1);
    k.append(group).append(1, '|').append(owner);
    return k;
}
}  // namespace

shard::shard(boost::asio::any_io_executor ex, const souk::clock& clk)
    : ex_(ex), clock_(clk), timer_(ex) {}

bool shard::runs_in_this_thread() const {
    const auto* io = ex_.target<boost::asio::io_context::executor_type>();
    return io && io->running_in_this_thread();
}

void shard::check_invariants(const resource_state& r) const {
    SOUK_ASSERT(r.held >= 0);
    SOUK_ASSERT(r.confirmed >= 0);
    SOUK_ASSERT(r.held + r.confirmed <= r.capacity);
}

void shard::set_resource(const std::string& id, std::int64_t capacity) {
    SOUK_ASSERT(capacity >= 0);
    auto& r = resources_[id];
    r.capacity = capacity;
    check_invariants(r);
}

void shard::set_capacity(const std::string& id, std::int64_t capacity) {
    auto it = resources_.find(id);
    if (it == resources_.end() || capacity < it->second.held + it->second.confirmed) return;
    it->second.capacity = capacity;
}

const resource_state* shard::resource(const std::string& id) const {
    auto it = resources_.find(id);
    return it == resources_.end() ? nullptr : &it->second;
}

refusal shard::try_hold(const hold& h, std::int64_t group_limit) {
    SOUK_ASSERT(h.quantity > 0);
    auto it = resources_.find(h.resource);
    if (it == resources_.end()) return refusal::unknown_resource;
    auto key = owner_key(h.group, h.owner);
    auto& totals = owner_totals_.of(key);
    auto total = totals.find(key);  // one lookup serves the limit and the update
    const std::int64_t mine = total == totals.end() ? 0 : total->second;
    if (group_limit > 0 && mine + h.quantity > group_limit) return refusal::limit_exceeded;
    resource_state& r = it->second;
    if (r.available() < h.quantity) return refusal::insufficient;
    auto [held, inserted] = holds_.of(h.id).try_emplace(h.id, h);
    if (!inserted) return refusal::duplicate_hold;
    held->second.state = hold_state::held;
    r.held += h.quantity;
    check_invariants(r);
    if (total == totals.end())
        totals.emplace(std::move(key), h.quantity);
    else
        total->second += h.quantity;
    return refusal::none;
}

void shard::restore_hold(const hold& h) {
    auto it = resources_.find(h.resource);
    SOUK_ASSERT(it != resources_.end());
    resource_state& r = it->second;
    if (h.state == hold_state::held)
        r.held += h.quantity;
    else if (h.state == hold_state::posted)
        r.confirmed += h.quantity;
    else
        return;
    check_invariants(r);
    const auto key = owner_key(h.group, h.owner);
    owner_totals_.of(key)[key] += h.quantity;
    holds_.of(h.id)[h.id] = h;
    if (h.state == hold_state::held) schedule_expiry(h.id, h.expires_ms);
}

void shard::release(hold& h, hold_state to) {
    resource_state& r = resources_.at(h.resource);
    if (h.state == hold_state::held)
        r.held -= h.quantity;
    else
        r.confirmed -= h.quantity;
    check_invariants(r);
    const auto key = owner_key(h.group, h.owner);
    auto& totals = owner_totals_.of(key);
    if ((totals[key] -= h.quantity) <= 0) totals.erase(key);
    h.state = to;
}

std::optional<hold> shard::remove(const std::string& hold_id, hold_state to, bool held_only) {
    auto& holds = holds_.of(hold_id);
    auto it = holds.find(hold_id);
    if (it == holds.end() || (held_only && it->second.state != hold_state::held))
        return std::nullopt;
    hold was = it->second;
    release(it->second, to);
    holds.erase(it);
    return was;
}

void shard::undo_hold(const std::string& hold_id) {
    (void)remove(hold_id, hold_state::voided, false);
}

bool shard::post(const std::string& hold_id) {
    hold* h = holds_.find(hold_id);
    if (!h || h->state != hold_state::held) return false;
    resource_state& r = resources_.at(h->resource);
    r.held -= h->quantity;
    r.confirmed += h->quantity;
    check_invariants(r);
    h->state = hold_state::posted;
    return true;
}

void shard::unpost(const std::string& hold_id) {
    hold* h = holds_.find(hold_id);
    SOUK_ASSERT(h && h->state == hold_state::posted);
    resource_state& r = resources_.at(h->resource);
    r.confirmed -= h->quantity;
    r.held += h->quantity;
    check_invariants(r);
    h->state = hold_state::held;
}

std::optional<hold> shard::void_hold(const std::string& hold_id) {
    return remove(hold_id, hold_state::voided, false);
}

std::optional<hold> shard::expire(const std::string& hold_id) {
    return remove(hold_id, hold_state::expired, true);
}

const hold* shard::find(const std::string& hold_id) const {
    return holds_.find(hold_id);
}

std::int64_t shard::owner_quantity(const std::string& group, const std::string& owner) const {
    const auto* total = owner_totals_.find(owner_key(group, owner));
    return total ? *total : 0;
}

void shard::schedule_expiry(const std::string& hold_id, std::int64_t expires_ms) {
    expiries_.emplace(expires_ms, hold_id);
    if (armed_for_ == 0 || expires_ms < armed_for_) arm();
}

// One timer per shard, pointed at the earliest expiry.
void shard::arm() {
    if (stopped_ || expiries_.empty()) {
        armed_for_ = 0;
        return;
    }
    armed_for_ = expiries_.begin()->first;
    const auto wait = std::max<std::int64_t>(0, armed_for_ - clock_.now_ms());
    timer_.expires_after(std::chrono::milliseconds(wait));
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        armed_for_ = 0;
        const auto now = clock_.now_ms();
        while (!expiries_.empty() && expiries_.begin()->first <= now) {
            const std::string id = expiries_.begin()->second;
            expiries_.erase(expiries_.begin());
            const hold* h = holds_.find(id);
            // Posted, voided or already expired holds have nothing left to do.
            if (!h || h->state != hold_state::held || h->expires_ms > now) continue;
            if (on_expiry_) on_expiry_(*h);
        }
        arm();
    });
}

void shard::stop() {
    stopped_ = true;
    timer_.cancel();
}

engine::engine(std::vector<boost::asio::any_io_executor> executors, const souk::clock& clk) {
    SOUK_ASSERT(!executors.empty());
    for (auto& ex : executors)
        shards_.push_back(std::make_unique<shard>(ex, clk));
}

shard& engine::for_partition(std::string_view key) {
    return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

void engine::stop() {
    for (auto& s : shards_)
        boost::asio::post(s->executor(), [p = s.get()] { p->stop(); });
}

}  // namespace souk::inventory
