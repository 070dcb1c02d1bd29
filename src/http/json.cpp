#include <cmath>
#include <souk/core/bytes.hpp>
#include <souk/http/json.hpp>

namespace souk::json {

namespace {

// Boost.JSON turns 1e999 into infinity; the API refuses numbers a double cannot hold.
bool finite_numbers(const boost::json::value& v, std::size_t depth) {
    if (depth > depth_max) return false;
    switch (v.kind()) {
        case boost::json::kind::double_:
            return std::isfinite(v.get_double());
        case boost::json::kind::array:
            for (const auto& x : v.get_array())
                if (!finite_numbers(x, depth + 1)) return false;
            return true;
        case boost::json::kind::object:
            for (const auto& kv : v.get_object())
                if (!finite_numbers(kv.value(), depth + 1)) return false;
            return true;
        default:
            return true;
    }
}

}  // namespace

result<boost::json::value> parse(std::string_view text) {
    boost::json::parse_options opts;
    opts.max_depth = depth_max;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec, {}, opts);
    if (ec) {
        if (ec == boost::json::error::too_deep)
            return error::malformed_json("JSON nested deeper than 64 levels");
        if (ec == boost::json::error::exponent_overflow)
            return error::malformed_json("number out of range");
        return error::malformed_json();
    }
    if (!finite_numbers(v, 0)) return error::malformed_json("number out of range");
    return v;
}

std::string serialize(const boost::json::value& v) {
    return boost::json::serialize(v);
}

namespace {

bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

}  // namespace

// A string that needs no escape (an id, a time) is copied whole; else the runs between escapes.
void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    if (!any_byte(s, needs_escape)) {
        out += s;
        out += '"';
        return;
    }
    std::size_t run = 0;  // where the current run of plain characters began
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (!needs_escape(c)) continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        out += '\\';
        if (c == '"' || c == '\\') {
            out += static_cast<char>(c);
        } else if (c >= 0x08 && c <= 0x0d && c != 0x0b) {
            // \b \t \n \f \r where JSON has a short escape, as Boost.JSON writes them; \u00XX
            // for the other control characters.
            out += "btn?fr"[c - 0x08];
        } else {
            out += "u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

fields::fields(const boost::json::value& body) : obj_(body.if_object()) {}

void fields::fail(std::string_view key, std::string_view problem) {
    if (!problems_.contains(key)) problems_[key] = problem;
}

std::optional<std::string> fields::required_string(std::string_view key, std::size_t min_len,
                                                   std::size_t max_len) {
    const auto* v = obj_ ? obj_->if_contains(key) : nullptr;
    if (!v || v->is_null()) {
        fail(key, "is required");
        return std::nullopt;
    }
    if (!v->is_string()) {
        fail(key, "must be a string");
        return std::nullopt;
    }
    std::string s(v->get_string());
    if (s.size() < min_len) {
        fail(key, min_len <= 1 ? "must not be empty"
                               : "must be at least " + std::to_string(min_len) + " characters");
        return std::nullopt;
    }
    if (s.size() > max_len) {
        fail(key, "must be at most " + std::to_string(max_len) + " characters");
        return std::nullopt;
    }
    return s;
}

std::optional<std::string> fields::optional_string(std::string_view key, std::size_t max_len) {
    const auto* v = obj_ ? obj_->if_contains(key) : nullptr;
    if (!v || v->is_null()) return std::nullopt;
    return required_string(key, 0, max_len);
}

std::optional<std::int64_t> fields::required_int(std::string_view key, std::int64_t min,
                                                 std::int64_t max) {
    const auto* v = obj_ ? obj_->if_contains(key) : nullptr;
    if (!v || v->is_null()) {
        fail(key, "is required");
        return std::nullopt;
    }
    std::int64_t n = 0;
    if (v->is_int64()) {
        n = v->get_int64();
    } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        n = static_cast<std::int64_t>(v->get_uint64());
    } else {
        fail(key, "must be an integer");
        return std::nullopt;
    }
    if (n < min || n > max) {
        fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return std::nullopt;
    }
    return n;
}

std::optional<std::int64_t> fields::optional_int(std::string_view key, std::int64_t min,
                                                 std::int64_t max) {
    const auto* v = obj_ ? obj_->if_contains(key) : nullptr;
    if (!v || v->is_null()) return std::nullopt;
    return required_int(key, min, max);
}

std::optional<bool> fields::optional_bool(std::string_view key) {
    const auto* v = obj_ ? obj_->if_contains(key) : nullptr;
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_bool()) {
        fail(key, "must be true or false");
        return std::nullopt;
    }
    return v->get_bool();
}

status fields::check() const {
    if (!obj_) return error::validation("body", "must be a JSON object");
    if (!problems_.empty()) return error::validation(problems_);
    return {};
}

}  // namespace souk::json
