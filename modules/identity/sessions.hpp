#pragma once
// In-memory state checked on every request: each user's "not before" instant (tokens issued
// earlier are dead) and whether the account is disabled; and the login-failure windows.
#include <cstdint>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace souk::identity {

class session_cutoffs {
public:
    void set(const std::string& user_id, std::int64_t not_before_ms, bool disabled) {
        std::unique_lock lock(mu_);
        auto& e = entries_[user_id];
        e.not_before_ms = std::max(e.not_before_ms, not_before_ms);
        e.disabled = disabled;
    }
    // true when a token issued at iat_ms is still acceptable.
    bool accepts(const std::string& user_id, std::int64_t iat_ms) const {
        std::shared_lock lock(mu_);
        auto it = entries_.find(user_id);
        if (it == entries_.end()) return true;
        return !it->second.disabled && iat_ms >= it->second.not_before_ms;
    }

private:
    struct entry {
        std::int64_t not_before_ms = 0;
        bool disabled = false;
    };
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, entry> entries_;
};

// Failed logins per account key (the lower-cased e-mail, known or not, so that unknown
// addresses answer exactly like known ones).
class lockout {
public:
    lockout(int failures_max, std::int64_t window_ms) : failures_max_(failures_max), window_ms_(window_ms) {}

    // Milliseconds until the account unlocks; 0 when it is not locked.
    std::int64_t locked_for(const std::string& key, std::int64_t now_ms) {
        std::lock_guard lock(mu_);
        auto it = entries_.find(key);
        if (it == entries_.end() || it->second.locked_until_ms <= now_ms) return 0;
        return it->second.locked_until_ms - now_ms;
    }
    // Records a failure; true when this failure locks the account.
    bool fail(const std::string& key, std::int64_t now_ms) {
        std::lock_guard lock(mu_);
        if (entries_.size() > entries_max_) prune(now_ms);
        auto& e = entries_[key];
        while (!e.failures.empty() && e.failures.front() <= now_ms - window_ms_) e.failures.pop_front();
        e.failures.push_back(now_ms);
        if (static_cast<int>(e.failures.size()) >= failures_max_) {
            e.locked_until_ms = now_ms + window_ms_;
            e.failures.clear();
            return true;
        }
        return false;
    }
    void succeed(const std::string& key) {
        std::lock_guard lock(mu_);
        entries_.erase(key);
    }

private:
    struct entry {
        std::deque<std::int64_t> failures;
        std::int64_t locked_until_ms = 0;
    };
    void prune(std::int64_t now_ms) {
        std::erase_if(entries_, [&](const auto& kv) {
            return kv.second.locked_until_ms <= now_ms &&
                   (kv.second.failures.empty() || kv.second.failures.back() <= now_ms - window_ms_);
        });
    }
    static constexpr std::size_t entries_max_ = 100'000;
    int failures_max_;
    std::int64_t window_ms_;
    std::mutex mu_;
    std::unordered_map<std::string, entry> entries_;
};

}  // namespace souk::identity
