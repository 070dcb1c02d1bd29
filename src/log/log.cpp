#include <atomic>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <souk/core/clock.hpp>
#include <souk/log/log.hpp>

namespace souk::log {

namespace {
std::atomic<level> min_level{level::info};
std::atomic<std::FILE*> output{stdout};

std::string_view name(level l) {
    switch (l) {
        case level::debug:
            return "debug";
        case level::info:
            return "info";
        case level::warn:
            return "warn";
        case level::error:
            return "error";
    }
    return "info";
}
}  // namespace

void set_level(level l) {
    min_level = l;
}
void set_output(std::FILE* f) {
    output = f;
}

level parse_level(std::string_view s) {
    if (s == "debug") return level::debug;
    if (s == "warn") return level::warn;
    if (s == "error") return level::error;
    return level::info;
}

void write(level l, std::string_view msg, boost::json::object fields) {
    if (l < min_level.load(std::memory_order_relaxed)) return;
    boost::json::object line;
    line["ts"] = format_rfc3339(system_clock().now());
    line["level"] = name(l);
    line["msg"] = msg;
    for (auto& [k, v] : fields)
        line[k] = std::move(v);
    raw_line(boost::json::serialize(line));
    if (l >= level::warn) flush();
}

void raw_line(std::string_view text) {
    // stdio's own lock keeps lines whole; stdout is block-buffered when not a terminal.
    std::FILE* f = output.load(std::memory_order_relaxed);
    flockfile(f);
    fwrite_unlocked(text.data(), 1, text.size(), f);
    fputc_unlocked('\n', f);
    funlockfile(f);
}

void flush() {
    std::fflush(output.load());
}

}  // namespace souk::log
