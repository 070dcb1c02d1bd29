#pragma once
// What the reserve path needs to know about shows and zones, in memory: looked up under a
// shared lock, changed only by the (rare) organizer writes.
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace souk::booking {

struct show_info {
    std::string id;
    std::string event_id;
    std::string tenant_id;
    std::string organizer_id;
    std::int64_t sale_starts_ms = 0;
    std::int64_t max_per_user = 1;
    bool published = false;
    bool deleted = false;
    bool queue_enabled = false;
    std::int64_t admit_per_minute = 60;
};

struct zone_info {
    std::string id;
    std::string show_id;
    std::string event_id;
    std::int64_t price_amount = 0;
    std::string currency;
};

class catalog {
  public:
    void put_show(const show_info& s) {
        std::unique_lock lock(mu_);
        shows_[s.id] = s;
    }
    void put_zone(const zone_info& z) {
        std::unique_lock lock(mu_);
        zones_[z.id] = z;
    }
    // Applies to every show of the event (publish, delete, sale start, limits).
    template <class F>
    void update_event_shows(const std::string& event_id, F&& f) {
        std::unique_lock lock(mu_);
        for (auto& [id, s] : shows_)
            if (s.event_id == event_id) f(s);
    }
    template <class F>
    void update_show(const std::string& show_id, F&& f) {
        std::unique_lock lock(mu_);
        if (auto it = shows_.find(show_id); it != shows_.end()) f(it->second);
    }
    std::optional<show_info> show(const std::string& id) const {
        std::shared_lock lock(mu_);
        auto it = shows_.find(id);
        if (it == shows_.end()) return std::nullopt;
        return it->second;
    }
    std::vector<show_info> queue_shows() const {
        std::shared_lock lock(mu_);
        std::vector<show_info> out;
        for (const auto& [id, s] : shows_)
            if (s.queue_enabled && !s.deleted) out.push_back(s);
        return out;
    }
    std::optional<zone_info> zone(const std::string& id) const {
        std::shared_lock lock(mu_);
        auto it = zones_.find(id);
        if (it == zones_.end()) return std::nullopt;
        return it->second;
    }

  private:
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, show_info> shows_;
    std::unordered_map<std::string, zone_info> zones_;
};

}  // namespace souk::booking
