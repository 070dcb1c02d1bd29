#pragma once
// An expected failure, carried as a value and mapped one to one onto the API's error envelope.
#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace souk {

struct error {
    int status = 500;
    std::string code = "INTERNAL";
    std::string message = "internal error";
    boost::json::object details = {};
    // Extra response headers that belong to this error (e.g. Retry-After on 429).
    std::vector<std::pair<std::string, std::string>> headers = {};

    static error bad_request(std::string message) {
        return {400, "BAD_REQUEST", std::move(message)};
    }
    static error malformed_json(std::string message = "request body is not valid JSON") {
        return {400, "MALFORMED_JSON", std::move(message)};
    }
    static error unauthenticated(std::string message = "authentication required") {
        return {401, "UNAUTHENTICATED", std::move(message)};
    }
    static error forbidden(std::string message = "not allowed") {
        return {403, "FORBIDDEN", std::move(message)};
    }
    static error not_found(std::string message = "not found") {
        return {404, "NOT_FOUND", std::move(message)};
    }
    static error method_not_allowed() {
        return {405, "METHOD_NOT_ALLOWED", "method not allowed on this path"};
    }
    static error conflict(std::string code, std::string message) {
        return {409, std::move(code), std::move(message)};
    }
    static error payload_too_large() {
        return {413, "PAYLOAD_TOO_LARGE", "request body too large"};
    }
    static error unsupported_media_type() {
        return {415, "UNSUPPORTED_MEDIA_TYPE", "expected Content-Type: application/json"};
    }
    // details: {"fields": {"email": "must be an e-mail address"}}
    static error validation(boost::json::object fields) {
        error e{422, "VALIDATION_FAILED", "validation failed"};
        e.details["fields"] = std::move(fields);
        return e;
    }
    static error validation(std::string_view field, std::string_view problem) {
        boost::json::object fields;
        fields[field] = problem;
        return validation(std::move(fields));
    }
    static error unavailable(std::string message = "service temporarily unavailable") {
        return {503, "UNAVAILABLE", std::move(message)};
    }
    static error internal() { return {}; }
};

}  // namespace souk
