#include "http/static_files.hpp"

#include <souk/core/crypto.hpp>

#include <filesystem>
#include <fstream>
#include <souk/core/random.hpp>
#include <sstream>

namespace souk::http {

std::string_view mime_type(std::string_view path) {
    const auto dot = path.rfind('.');
    const auto ext = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (ext == "html") return "text/html; charset=utf-8";
    if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
    if (ext == "css") return "text/css; charset=utf-8";
    if (ext == "json" || ext == "map") return "application/json";
    if (ext == "svg") return "image/svg+xml";
    if (ext == "png") return "image/png";
    if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
    if (ext == "gif") return "image/gif";
    if (ext == "webp") return "image/webp";
    if (ext == "ico") return "image/x-icon";
    if (ext == "woff2") return "font/woff2";
    if (ext == "woff") return "font/woff";
    if (ext == "txt") return "text/plain; charset=utf-8";
    if (ext == "webmanifest") return "application/manifest+json";
    if (ext == "wasm") return "application/wasm";
    return "application/octet-stream";
}

namespace {

// Vite names built assets like assets/index-3f9a1c2b.js: a content hash makes them safe to cache
// forever. Only files under assets/ carry one; a public file such as og-homepage.png merely looks
// hashed and may change under the same name.
bool looks_hashed(std::string_view path) {
    if (path.substr(0, 7) != "assets/") return false;
    const auto slash = path.rfind('/');
    auto name = path.substr(slash == std::string_view::npos ? 0 : slash + 1);
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos) return false;
    name = name.substr(0, dot);
    const auto dash = name.rfind('-');
    if (dash == std::string_view::npos) return false;
    const auto hash = name.substr(dash + 1);
    if (hash.size() < 8) return false;
    for (char c : hash) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        if (!ok) return false;
    }
    return true;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    if (if_none_match == "*") return true;
    std::size_t pos = 0;
    while (pos < if_none_match.size()) {
        auto comma = if_none_match.find(',', pos);
        if (comma == std::string_view::npos) comma = if_none_match.size();
        auto tag = if_none_match.substr(pos, comma - pos);
        while (!tag.empty() && tag.front() == ' ')
            tag.remove_prefix(1);
        while (!tag.empty() && tag.back() == ' ')
            tag.remove_suffix(1);
        if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
        if (tag == etag) return true;
        pos = comma + 1;
    }
    return false;
}

}  // namespace

void static_files::add(std::string path, std::string body) {
    asset a;
    a.etag = "\"" + to_hex(std::string_view(crypto::sha256(body)).substr(0, 16)) + "\"";
    a.mime = std::string(mime_type(path));
    a.immutable = looks_hashed(path);
    a.body = std::move(body);
    files_["/" + path] = std::move(a);
}

static_files static_files::from_embedded(std::span<const embedded::file> files) {
    static_files s;
    for (const auto& f : files)
        s.add(std::string(f.path), std::string(f.bytes));
    return s;
}

static_files static_files::from_directory(const std::string& dir) {
    static_files s;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        s.add(std::filesystem::relative(e.path(), dir).generic_string(), ss.str());
    }
    return s;
}

std::optional<response> static_files::serve(const request& req) const {
    if (req.method != method::get && req.method != method::head) return std::nullopt;
    auto it = files_.find(req.path == "/" ? "/index.html" : req.path);
    if (it == files_.end()) {
        // Client-side routes (no file extension) get the SPA's index.html.
        const auto slash = req.path.rfind('/');
        const bool has_ext = req.path.find('.', slash) != std::string::npos;
        if (has_ext) return std::nullopt;
        it = files_.find("/index.html");
        if (it == files_.end()) return std::nullopt;
    }
    const asset& a = it->second;
    response r;
    r.content_type = a.mime;
    r.set_header("ETag", a.etag);
    r.set_header("Cache-Control", a.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (etag_matches(req.header("If-None-Match"), a.etag)) {
        r.status = 304;
        return r;
    }
    r.status = 200;
    r.body = a.body;
    return r;
}

}  // namespace souk::http
