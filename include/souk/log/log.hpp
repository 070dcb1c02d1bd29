#pragma once
// Structured logs: one JSON object per line on stdout.
#include <boost/json/object.hpp>
#include <cstdio>
#include <string_view>

namespace souk::log {

enum class level { debug, info, warn, error };
void set_level(level l);
// Where lines go: stdout for the server, stderr for CLI commands whose stdout is their answer.
void set_output(std::FILE* f);
level parse_level(std::string_view s);

// {"ts":..., "level":..., "msg":..., ...fields}
void write(level l, std::string_view msg, boost::json::object fields = {});
inline void info(std::string_view msg, boost::json::object f = {}) {
    write(level::info, msg, std::move(f));
}
inline void warn(std::string_view msg, boost::json::object f = {}) {
    write(level::warn, msg, std::move(f));
}
inline void error(std::string_view msg, boost::json::object f = {}) {
    write(level::error, msg, std::move(f));
}
// A prepared line (request logs build theirs without a json object for speed).
void raw_line(std::string_view line);
void flush();

}  // namespace souk::log
