#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "http/static_files.hpp"

using namespace souk;
using http::method;

namespace {

const std::string web_dir = std::string(SOUK_UNIT_FIXTURES) + "/web";

std::string read_fixture(const std::string& rel) {
    std::ifstream in(web_dir + "/" + rel, std::ios::binary);
    REQUIRE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::optional<http::response> get(const http::static_files& files, std::string path,
                                  method m = method::get, std::string if_none_match = "") {
    http::request req;
    req.method = m;
    req.path = std::move(path);
    req.target = req.path;
    if (!if_none_match.empty()) req.headers.emplace_back("If-None-Match", if_none_match);
    return files.serve(req);
}

constexpr std::string_view cache_forever = "public, max-age=31536000, immutable";

}  // namespace

TEST_CASE("static files: each file is served with its MIME type", "[static]") {
    const auto files = http::static_files::from_directory(web_dir);
    CHECK(files.size() == 5);
    struct expect {
        const char* path;
        const char* file;
        const char* mime;
    };
    for (const expect& e : {
             expect{"/", "index.html", "text/html; charset=utf-8"},
             expect{"/index.html", "index.html", "text/html; charset=utf-8"},
             expect{"/assets/app-3f9a1c2b.js", "assets/app-3f9a1c2b.js",
                    "text/javascript; charset=utf-8"},
             expect{"/assets/style-Ab12Cd34.css", "assets/style-Ab12Cd34.css",
                    "text/css; charset=utf-8"},
             expect{"/robots.txt", "robots.txt", "text/plain; charset=utf-8"},
             expect{"/og-homepage.svg", "og-homepage.svg", "image/svg+xml"},
         }) {
        INFO(e.path);
        auto r = get(files, e.path);
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(r->content_type == e.mime);
        CHECK(r->body == read_fixture(e.file));
    }
    CHECK(http::mime_type("a.woff2") == "font/woff2");
    CHECK(http::mime_type("a.json") == "application/json");
    CHECK(http::mime_type("noext") == "application/octet-stream");
}

TEST_CASE("static files: an ETag is sent and If-None-Match answers 304", "[static]") {
    const auto files = http::static_files::from_directory(web_dir);
    auto first = get(files, "/assets/app-3f9a1c2b.js");
    REQUIRE(first.has_value());
    const std::string etag(first->header("ETag"));
    REQUIRE(etag.size() > 2);
    CHECK(etag.front() == '"');
    CHECK(etag.back() == '"');
    // Another file has another tag; the same file keeps its tag.
    CHECK(get(files, "/robots.txt")->header("ETag") != etag);
    CHECK(get(files, "/assets/app-3f9a1c2b.js")->header("ETag") == etag);

    for (const std::string& inm : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
        INFO("If-None-Match: " << inm);
        auto r = get(files, "/assets/app-3f9a1c2b.js", method::get, inm);
        REQUIRE(r.has_value());
        CHECK(r->status == 304);
        CHECK(r->body.empty());
        CHECK(r->header("ETag") == etag);
        CHECK(r->header("Cache-Control") == cache_forever);
    }
    for (const std::string& inm : {std::string("\"other\""), etag.substr(1, etag.size() - 2)}) {
        INFO("If-None-Match: " << inm);
        auto r = get(files, "/assets/app-3f9a1c2b.js", method::get, inm);
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK_FALSE(r->body.empty());
    }
}

TEST_CASE("static files: hashed assets are cached for a year, the rest revalidated", "[static]") {
    const auto files = http::static_files::from_directory(web_dir);
    for (const char* path : {"/assets/app-3f9a1c2b.js", "/assets/style-Ab12Cd34.css"}) {
        INFO(path);
        CHECK(get(files, path)->header("Cache-Control") == cache_forever);
    }
    // og-homepage.svg looks hashed by name but is a public file outside assets/: it may change.
    for (const char* path : {"/", "/index.html", "/robots.txt", "/og-homepage.svg", "/events/42"}) {
        INFO(path);
        CHECK(get(files, path)->header("Cache-Control") == "no-cache");
    }
}

TEST_CASE("static files: client-side routes get index.html, missing files do not", "[static]") {
    const auto files = http::static_files::from_directory(web_dir);
    const std::string index = read_fixture("index.html");
    for (const char* path : {"/events/42", "/account", "/sell/new/item", "/assets"}) {
        INFO(path);
        auto r = get(files, path);
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(r->content_type == "text/html; charset=utf-8");
        CHECK(r->body == index);
    }
    for (const char* path :
         {"/missing.js", "/assets/app-00000000.js", "/favicon.ico", "/v1.2/report.pdf"}) {
        INFO(path);
        CHECK_FALSE(get(files, path).has_value());
    }
}

TEST_CASE("static files: only GET and HEAD are served", "[static]") {
    const auto files = http::static_files::from_directory(web_dir);
    for (method m : {method::post, method::put, method::patch, method::del, method::options}) {
        INFO(http::to_string(m));
        CHECK_FALSE(get(files, "/", m).has_value());
        CHECK_FALSE(get(files, "/robots.txt", m).has_value());
        CHECK_FALSE(get(files, "/events/42", m).has_value());
    }
    auto head = get(files, "/robots.txt", method::head);
    REQUIRE(head.has_value());
    CHECK(head->status == 200);
    CHECK(head->content_type == "text/plain; charset=utf-8");
}

TEST_CASE("static files: the embedded bundle is served the same way", "[static]") {
    const embedded::file bundle[] = {
        {"index.html", "<html>embedded</html>"},
        {"assets/app-3f9a1c2b.js", "export {};"},
    };
    const auto files = http::static_files::from_embedded(bundle);
    CHECK(files.size() == 2);
    CHECK(get(files, "/")->body == "<html>embedded</html>");
    CHECK(get(files, "/deep/link")->body == "<html>embedded</html>");
    CHECK(get(files, "/assets/app-3f9a1c2b.js")->header("Cache-Control") == cache_forever);
}
