#pragma once
// Serves the SPA: an embedded bundle (or a directory in development) with MIME types, ETags,
// long caching for hashed assets, and index.html for client-side routes.
#include <optional>
#include <souk/embedded.hpp>
#include <souk/http/request.hpp>
#include <souk/http/response.hpp>
#include <span>
#include <string>
#include <unordered_map>

namespace souk::http {

class static_files {
  public:
    static static_files from_embedded(std::span<const embedded::file> files);
    static static_files from_directory(const std::string& dir);

    // nullopt: not a static request (API paths, non-GET); the caller answers 404/405.
    std::optional<response> serve(const request& req) const;
    std::size_t size() const { return files_.size(); }

  private:
    struct asset {
        std::string body;
        std::string mime;
        std::string etag;
        bool immutable = false;  // hashed name: cache for a year
    };
    void add(std::string path, std::string body);
    std::unordered_map<std::string, asset> files_;
};

std::string_view mime_type(std::string_view path);

}  // namespace souk::http
