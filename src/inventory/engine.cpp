#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <souk/core/assert.hpp>
#include <souk/inventory/engine.hpp>

namespace souk::inventory {

namespace {

// "group|owner", in a buffer of the calling thread's: built for every reservation, kept only
// when an owner's first hold is taken.
std::string_view owner_key(std::string_view group, std::string_view owner) {
    thread_local std::string key;
    key.assign(group).append(1, '|').append(owner);
    return key;
}

}  // namespace

// ---- expiry_queue ----------------------------------------------------------------------------

hold_key::hold_key(std::string_view id) : size_(static_cast<std::uint8_t>(id.size())) {
    SOUK_ASSERT(id.size() <= max_size);
    std::copy(id.begin(), id.end(), data_.begin());
}

void expiry_queue::push(std::int64_t at_ms, std::string_view hold_id) {
    if (in_order_.empty() || at_ms >= in_order_.back().first)
        in_order_.emplace_back(at_ms, hold_id);
    else
        out_of_order_.emplace(at_ms, hold_id);
}

bool expiry_queue::front_in_order() const {
    SOUK_ASSERT(!empty());
    if (out_of_order_.empty()) return true;
    return !in_order_.empty() && in_order_.front().first <= out_of_order_.begin()->first;
}

std::int64_t expiry_queue::earliest() const {
    return front_in_order() ? in_order_.front().first : out_of_order_.begin()->first;
}

std::string expiry_queue::pop() {
    std::string id;
    if (front_in_order()) {
        id = std::string_view(in_order_.front().second);
        in_order_.pop_front();
    } else {
        id = std::string_view(out_of_order_.begin()->second);
        out_of_order_.erase(out_of_order_.begin());
    }
    return id;
}

// ---- shard -----------------------------------------------------------------------------------

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

void shard::set_capacity(std::string_view id, std::int64_t capacity) {
    auto it = resources_.find(id);
    if (it == resources_.end() || capacity < it->second.held + it->second.confirmed) return;
    it->second.capacity = capacity;
}

const resource_state* shard::resource(std::string_view id) const {
    auto it = resources_.find(id);
    return it == resources_.end() ? nullptr : &it->second;
}

refusal shard::try_hold(const hold_request& h, std::int64_t group_limit) {
    SOUK_ASSERT(h.quantity > 0);
    SOUK_ASSERT(h.group.find('|') == std::string_view::npos);
    auto it = resources_.find(h.resource);
    if (it == resources_.end()) return refusal::unknown_resource;
    // Each key hashed and looked up once: the owner's total is found here and counted in below.
    const std::string_view key = owner_key(h.group, h.owner);
    auto& totals = owner_totals_.of(key);
    auto total = totals.find(key);
    const std::int64_t mine = total == totals.end() ? 0 : total->second;
    if (group_limit > 0 && mine + h.quantity > group_limit) return refusal::limit_exceeded;
    if (it->second.available() < h.quantity) return refusal::insufficient;
    auto [held, inserted] = holds_.of(h.id).try_emplace(hold_key(h.id));
    if (!inserted) return refusal::duplicate_hold;
    if (total == totals.end()) total = totals.emplace(std::string(key), 0).first;
    count_in(held->second, *total, *it, h.quantity, h.expires_ms, hold_state::held);
    return refusal::none;
}

void shard::take(std::string_view id, std::string_view group, std::string_view owner,
                 resource_entry& r, std::int64_t quantity, std::int64_t expires_ms, hold_state st) {
    SOUK_ASSERT(group.find('|') == std::string_view::npos);
    const std::string_view key = owner_key(group, owner);
    auto& totals = owner_totals_.of(key);
    auto total = totals.find(key);
    if (total == totals.end()) total = totals.emplace(std::string(key), 0).first;
    auto [held, inserted] = holds_.of(id).try_emplace(hold_key(id));
    SOUK_ASSERT(inserted);
    count_in(held->second, *total, r, quantity, expires_ms, st);
}

void shard::count_in(live_hold& l, owner_entry& total, resource_entry& r, std::int64_t quantity,
                     std::int64_t expires_ms, hold_state st) {
    SOUK_ASSERT(st == hold_state::held || st == hold_state::posted);
    l.quantity = quantity;
    l.expires_ms = expires_ms;
    l.state = st;
    l.resource = &r;
    l.owner = &total;
    total.second += quantity;
    (st == hold_state::held ? r.second.held : r.second.confirmed) += quantity;
    check_invariants(r.second);
}

void shard::restore_hold(const hold& h) {
    if (h.state != hold_state::held && h.state != hold_state::posted) return;
    auto it = resources_.find(h.resource);
    SOUK_ASSERT(it != resources_.end());
    take(h.id, h.group, h.owner, *it, h.quantity, h.expires_ms, h.state);
    if (h.state == hold_state::held) schedule_expiry(h.id, h.expires_ms);
}

hold shard::as_hold(std::string_view id, const live_hold& h) {
    const std::string& key = h.owner->first;
    const auto bar = key.find('|');
    return hold{std::string(id),    h.resource->first, h.quantity, key.substr(bar + 1),
                key.substr(0, bar), h.expires_ms,      h.state};
}

void shard::release(live_hold& h, hold_state to) {
    resource_state& r = h.resource->second;
    (h.state == hold_state::held ? r.held : r.confirmed) -= h.quantity;
    check_invariants(r);
    SOUK_ASSERT(h.owner->second >= h.quantity);
    if ((h.owner->second -= h.quantity) == 0) {
        auto& totals = owner_totals_.of(h.owner->first);
        totals.erase(totals.find(h.owner->first));
    }
    h.owner = nullptr;
    h.state = to;
}

std::optional<hold> shard::remove(std::string_view hold_id, hold_state to, bool held_only) {
    auto& holds = holds_.of(hold_id);
    auto it = holds.find(hold_id);
    if (it == holds.end() || (held_only && it->second.state != hold_state::held))
        return std::nullopt;
    hold was = as_hold(it->first, it->second);
    release(it->second, to);
    holds.erase(it);
    return was;
}

void shard::undo_hold(std::string_view hold_id) {
    (void)remove(hold_id, hold_state::voided, false);
}

bool shard::post(std::string_view hold_id) {
    live_hold* h = holds_.find(hold_id);
    if (!h || h->state != hold_state::held) return false;
    resource_state& r = h->resource->second;
    r.held -= h->quantity;
    r.confirmed += h->quantity;
    check_invariants(r);
    h->state = hold_state::posted;
    return true;
}

void shard::unpost(std::string_view hold_id) {
    live_hold* h = holds_.find(hold_id);
    SOUK_ASSERT(h && h->state == hold_state::posted);
    resource_state& r = h->resource->second;
    r.confirmed -= h->quantity;
    r.held += h->quantity;
    check_invariants(r);
    h->state = hold_state::held;
}

std::optional<hold> shard::void_hold(std::string_view hold_id) {
    return remove(hold_id, hold_state::voided, false);
}

std::optional<hold> shard::expire(std::string_view hold_id) {
    return remove(hold_id, hold_state::expired, true);
}

const hold_status* shard::find(std::string_view hold_id) const {
    return holds_.find(hold_id);
}

std::int64_t shard::owner_quantity(std::string_view group, std::string_view owner) const {
    const auto* total = owner_totals_.find(owner_key(group, owner));
    return total ? *total : 0;
}

void shard::schedule_expiry(std::string_view hold_id, std::int64_t expires_ms) {
    expiries_.push(expires_ms, hold_id);
    if (armed_for_ == 0 || expires_ms < armed_for_) arm();
}

// One timer per shard, pointed at the earliest expiry.
void shard::arm() {
    if (stopped_ || expiries_.empty()) {
        armed_for_ = 0;
        return;
    }
    armed_for_ = expiries_.earliest();
    const auto wait = std::max<std::int64_t>(0, armed_for_ - clock_.now_ms());
    timer_.expires_after(std::chrono::milliseconds(wait));
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        armed_for_ = 0;
        const auto now = clock_.now_ms();
        while (!expiries_.empty() && expiries_.earliest() <= now) {
            const std::string id = expiries_.pop();
            const live_hold* h = holds_.find(id);
            // Posted, voided or already expired holds have nothing left to do.
            if (!h || h->state != hold_state::held || h->expires_ms > now) continue;
            if (on_expiry_) on_expiry_(id);
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
