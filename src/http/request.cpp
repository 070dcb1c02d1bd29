#include <algorithm>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <cstdlib>
#include <souk/http/json.hpp>
#include <souk/http/request.hpp>
#include <souk/http/response.hpp>

namespace souk::http {

namespace {

std::string_view find_header(const header_list& h, std::string_view name) {
    for (const auto& [k, v] : h)
        if (iequals(k, name)) return v;
    return {};
}

}  // namespace

std::string_view to_string(method m) {
    switch (m) {
        case method::get:
            return "GET";
        case method::head:
            return "HEAD";
        case method::post:
            return "POST";
        case method::put:
            return "PUT";
        case method::patch:
            return "PATCH";
        case method::del:
            return "DELETE";
        case method::options:
            return "OPTIONS";
        case method::other:
            break;
    }
    return "OTHER";
}

method method_from_string(std::string_view s) {
    if (s == "GET") return method::get;
    if (s == "HEAD") return method::head;
    if (s == "POST") return method::post;
    if (s == "PUT") return method::put;
    if (s == "PATCH") return method::patch;
    if (s == "DELETE") return method::del;
    if (s == "OPTIONS") return method::options;
    return method::other;
}

bool principal::has_role(std::string_view role) const {
    for (const auto& r : roles)
        if (r == role) return true;
    return false;
}

std::string_view request::header(std::string_view name) const {
    return find_header(headers, name);
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// How the Accept header rates a media type: the quality of the most specific range that matches
// it (2: the type itself, 1: type/*, 0: */*; -1 with q 0: none does).
struct rating {
    double q = 0;
    int specificity = -1;
};

rating rate(std::string_view accept, std::string_view media_type) {
    const auto slash = media_type.find('/');
    const auto kind = media_type.substr(0, slash);
    rating best;
    while (!accept.empty()) {
        const auto comma = accept.find(',');
        auto item = accept.substr(0, comma);
        accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
        const auto semi = item.find(';');
        const auto range = trim(item.substr(0, semi));
        int specificity = -1;
        if (iequals(range, media_type))
            specificity = 2;
        else if (range.size() == kind.size() + 2 && iequals(range.substr(0, kind.size()), kind) &&
                 range.substr(kind.size()) == "/*")
            specificity = 1;
        else if (range == "*/*")
            specificity = 0;
        if (specificity <= best.specificity) continue;
        double q = 1;
        for (auto params = semi == std::string_view::npos ? std::string_view() : item.substr(semi);
             !params.empty();) {
            params.remove_prefix(1);  // the ';'
            const auto next = params.find(';');
            const auto p = trim(params.substr(0, next));
            params = next == std::string_view::npos ? std::string_view() : params.substr(next);
            if (p.size() > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
                q = std::clamp(std::strtod(std::string(p.substr(2)).c_str(), nullptr), 0.0, 1.0);
        }
        best = {q, specificity};
    }
    return best;
}

}  // namespace

bool request::prefers(std::string_view media_type, std::string_view fallback) const {
    const auto accept = header("Accept");
    if (accept.empty()) return false;
    const rating a = rate(accept, media_type), b = rate(accept, fallback);
    return a.q > 0 && (a.q > b.q || (a.q == b.q && a.specificity > b.specificity));
}

std::string_view request::param(std::string_view name) const {
    for (const auto& [k, v] : params)
        if (k == name) return v;
    return {};
}

namespace {

// One parameter of an x-www-form-urlencoded string (a query, or a form's body), decoded with
// '+' as a space as HTML forms send it.
std::optional<std::string> urlencoded_param(std::string_view encoded, std::string_view name) {
    if (!boost::urls::parse_query(encoded)) return std::nullopt;
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;
    const boost::urls::params_view params(encoded, opts);
    for (const auto& p : params)
        if (p.key == name) return p.has_value ? p.value : std::string();
    return std::nullopt;
}

}  // namespace

std::optional<std::string> request::query_param(std::string_view name) const {
    return urlencoded_param(query, name);
}

std::optional<std::string> request::form_param(std::string_view name) const {
    return urlencoded_param(body, name);
}

request::paging request::page() const {
    // Clamped, so that (page - 1) * per_page cannot overflow.
    return {std::clamp<std::int64_t>(std::atoll(query_param("page").value_or("1").c_str()), 1,
                                     1'000'000'000),
            std::clamp<std::int64_t>(std::atoll(query_param("per_page").value_or("20").c_str()), 1,
                                     100)};
}

result<boost::json::value> request::json() const {
    return souk::json::parse(body);
}

void response::set_header(std::string name, std::string value) {
    for (auto& [k, v] : headers) {
        if (iequals(k, name)) {
            v = std::move(value);
            return;
        }
    }
    headers.emplace_back(std::move(name), std::move(value));
}

std::string_view response::header(std::string_view name) const {
    return find_header(headers, name);
}

response response::ok(const boost::json::value& data, int status) {
    boost::json::object env;
    env["success"] = true;
    env["data"] = data;
    return raw(status, "application/json", boost::json::serialize(env));
}

response response::list(const boost::json::value& items, std::int64_t page, std::int64_t per_page,
                        std::int64_t total) {
    boost::json::object env;
    env["success"] = true;
    env["data"] = items;
    env["meta"] = {{"page", page}, {"per_page", per_page}, {"total", total}};
    return raw(200, "application/json", boost::json::serialize(env));
}

response response::fail(const souk::error& e, std::string_view request_id) {
    boost::json::object err{{"code", e.code}, {"message", e.message}};
    if (!e.details.empty()) err["details"] = e.details;
    boost::json::object env{{"success", false}, {"error", std::move(err)}};
    env["request_id"] = request_id;
    response r = raw(e.status, "application/json", boost::json::serialize(env));
    for (const auto& [k, v] : e.headers)
        r.set_header(k, v);
    return r;
}

response response::raw(int status, std::string content_type, std::string body) {
    response r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    return r;
}

}  // namespace souk::http
