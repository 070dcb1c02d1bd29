#pragma once
// In-memory state checked on every request: each user's "not before" instant (tokens issued
// earlier are dead) and whether the account is disabled; and the login-failure windows.
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>

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

// GET /auth/me answers by user id. An entry is stored only if no change was announced while it
// was being loaded (the generation), so a slow read can never put back a stale profile.
class profile_cache {
  public:
    std::optional<std::string> find(const std::string& user_id) const {
        std::shared_lock lock(mu_);
        auto it = bodies_.find(user_id);
        if (it == bodies_.end()) return std::nullopt;
        return it->second;
    }
    std::uint64_t generation() const {
        std::shared_lock lock(mu_);
        return generation_;
    }
    void put(const std::string& user_id, std::string body, std::uint64_t loaded_at) {
        std::unique_lock lock(mu_);
        if (loaded_at != generation_) return;
        if (bodies_.size() >= entries_max_) bodies_.clear();
        bodies_[user_id] = std::move(body);
    }
    void changed(const std::string& user_id) {
        std::unique_lock lock(mu_);
        ++generation_;
        bodies_.erase(user_id);
    }

  private:
    static constexpr std::size_t entries_max_ = 100'000;
    mutable std::shared_mutex mu_;
    std::uint64_t generation_ = 0;
    std::unordered_map<std::string, std::string> bodies_;
};

// Failed logins per account key (the lower-cased e-mail, known or not, so that unknown
// addresses answer exactly like known ones). Attempts still being checked count against the
// limit too, so that guesses sent all at once cannot outrun it.
class lockout {
  public:
    lockout(int failures_max, std::int64_t window_ms)
        : failures_max_(failures_max), window_ms_(window_ms) {}

    // While as many attempts are in flight as failures are still allowed, callers are told to
    // come back after this long.
    static constexpr std::int64_t busy_retry_ms = 1000;

    // Milliseconds until the account unlocks; 0 when it is not locked.
    std::int64_t locked_for(const std::string& key, std::int64_t now_ms) {
        std::lock_guard lock(mu_);
        auto it = entries_.find(key);
        if (it == entries_.end() || it->second.locked_until_ms <= now_ms) return 0;
        return it->second.locked_until_ms - now_ms;
    }
    // Starts an attempt: 0 and the attempt is in flight until fail(), succeed() or release();
    // else the milliseconds to wait (the account is locked, or enough attempts to lock it are
    // already being checked).
    std::int64_t begin(const std::string& key, std::int64_t now_ms) {
        std::lock_guard lock(mu_);
        if (entries_.size() > entries_max_) prune(now_ms);
        auto& e = entries_[key];
        if (e.locked_until_ms > now_ms) return e.locked_until_ms - now_ms;
        forget_old(e, now_ms);
        if (static_cast<int>(e.failures.size()) + e.in_flight >= failures_max_)
            return busy_retry_ms;
        ++e.in_flight;
        return 0;
    }
    // Records a failure (ending an attempt in flight, if any); true when it locks the account.
    bool fail(const std::string& key, std::int64_t now_ms) {
        std::lock_guard lock(mu_);
        if (entries_.size() > entries_max_) prune(now_ms);
        auto& e = entries_[key];
        if (e.in_flight > 0) --e.in_flight;
        forget_old(e, now_ms);
        e.failures.push_back(now_ms);
        if (static_cast<int>(e.failures.size()) >= failures_max_) {
            e.locked_until_ms = now_ms + window_ms_;
            e.failures.clear();
            return true;
        }
        return false;
    }
    // A complete login: the failures are forgotten.
    void succeed(const std::string& key) {
        std::lock_guard lock(mu_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return;
        auto& e = it->second;
        if (e.in_flight > 0) --e.in_flight;
        e.failures.clear();
        e.locked_until_ms = 0;
        if (e.in_flight == 0) entries_.erase(it);
    }
    // An attempt that ended neither way (a second factor is needed, a database error).
    void release(const std::string& key) {
        std::lock_guard lock(mu_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return;
        auto& e = it->second;
        if (e.in_flight > 0) --e.in_flight;
        if (e.in_flight == 0 && e.failures.empty() && e.locked_until_ms == 0) entries_.erase(it);
    }

  private:
    struct entry {
        std::deque<std::int64_t> failures;
        std::int64_t locked_until_ms = 0;
        int in_flight = 0;
    };
    void forget_old(entry& e, std::int64_t now_ms) const {
        while (!e.failures.empty() && e.failures.front() <= now_ms - window_ms_)
            e.failures.pop_front();
    }
    void prune(std::int64_t now_ms) {
        std::erase_if(entries_, [&](const auto& kv) {
            return kv.second.in_flight == 0 && kv.second.locked_until_ms <= now_ms &&
                   (kv.second.failures.empty() || kv.second.failures.back() <= now_ms - window_ms_);
        });
    }
    static constexpr std::size_t entries_max_ = 100'000;
    int failures_max_;
    std::int64_t window_ms_;
    std::mutex mu_;
    std::unordered_map<std::string, entry> entries_;
};

// One login attempt begun with lockout::begin; released when it ends neither way.
class login_attempt {
  public:
    login_attempt(lockout& l, std::string key) : lockout_(l), key_(std::move(key)) {}
    login_attempt(const login_attempt&) = delete;
    login_attempt& operator=(const login_attempt&) = delete;
    ~login_attempt() {
        if (open_) lockout_.release(key_);
    }
    void fail(std::int64_t now_ms) {
        if (std::exchange(open_, false)) lockout_.fail(key_, now_ms);
    }
    void succeed() {
        if (std::exchange(open_, false)) lockout_.succeed(key_);
    }

  private:
    lockout& lockout_;
    std::string key_;
    bool open_ = true;
};

}  // namespace souk::identity
