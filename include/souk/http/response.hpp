#pragma once
// The kernel's own response type and the API envelope builders.
#include <boost/json/value.hpp>
#include <souk/core/error.hpp>
#include <souk/http/request.hpp>
#include <string>

namespace souk::http {

struct response {
    int status = 200;
    std::string content_type = "application/json";
    header_list headers;
    std::string body;
    bool close = false;  // close the connection after this response

    void set_header(std::string name, std::string value);
    std::string_view header(std::string_view name) const;

    // {"success": true, "data": ...}
    static response ok(const boost::json::value& data, int status = 200);
    // {"success": true, "data": [...], "meta": {"page", "per_page", "total"}}
    static response list(const boost::json::value& items, std::int64_t page, std::int64_t per_page,
                         std::int64_t total);
    // {"success": false, "error": {...}, "request_id": ...}
    static response fail(const souk::error& e, std::string_view request_id);
    static response raw(int status, std::string content_type, std::string body);
};

}  // namespace souk::http
