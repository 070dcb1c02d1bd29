#pragma once
// Time comes from an injected clock so that tests can move it.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace souk {

using sys_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

class clock {
  public:
    virtual ~clock() = default;
    virtual sys_time now() const = 0;
    std::int64_t now_ms() const { return now().time_since_epoch().count(); }
};

class system_clock final : public clock {
  public:
    sys_time now() const override {
        return std::chrono::time_point_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now());
    }
};

// The system's time plus a fixed offset: how the test environment starts a server "a day later"
// (testing.clock_offset_seconds); the offset is 0 everywhere else.
class offset_clock final : public clock {
  public:
    explicit offset_clock(std::chrono::milliseconds offset = {}) : offset_(offset) {}
    sys_time now() const override { return system_clock().now() + offset_; }

  private:
    std::chrono::milliseconds offset_;
};

// A clock that only moves when told to; for deterministic tests.
class manual_clock final : public clock {
  public:
    explicit manual_clock(std::int64_t start_ms = 1'700'000'000'000) : ms_(start_ms) {}
    sys_time now() const override { return sys_time(std::chrono::milliseconds(ms_.load())); }
    void advance(std::chrono::milliseconds d) { ms_ += d.count(); }

  private:
    std::atomic<std::int64_t> ms_;
};

// RFC 3339 UTC with milliseconds, e.g. 2026-11-25T12:00:00.000Z.
std::string format_rfc3339(sys_time t);
// The same for milliseconds since the Unix epoch (how rows store times).
std::string format_rfc3339_ms(std::int64_t unix_ms);
// Parses RFC 3339 (Z or numeric offset); false when malformed.
bool parse_rfc3339(std::string_view text, sys_time& out);

}  // namespace souk
