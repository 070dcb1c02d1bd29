#pragma once
// The kernel's request pipeline, free of Beast: request id and trace id, routing (404/405),
// transport checks (413/415), access, the route's middleware chain, errors to the envelope,
// security headers, metrics and one log line per request.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <souk/http/router.hpp>

#include "http/static_files.hpp"

namespace souk::http {

struct dispatch_options {
    bool log_requests = true;
    bool redirect_to_https = false;  // plain listener in prod: 308 to this origin
    std::string https_origin;        // e.g. https://example.org:8443
};

// Resolves a route's per-status-class metrics once (router::freeze calls it for every route).
void attach_route_metrics(route& r);

class dispatcher {
  public:
    dispatcher(const router& r, const static_files* assets, dispatch_options opts);
    // Answers one request; never throws.
    boost::asio::awaitable<response> handle(request& req);
    // A response for a request the transport refused (413, 400...), in the envelope.
    response refuse(const souk::error& e, request& req);
    void set_https_origin(std::string origin) { opts_.https_origin = std::move(origin); }
    // The headers every response carries (the request id, the security headers, HSTS over TLS,
    // Cache-Control: no-store on JSON without one), as "Name: value\r\n" lines; the server
    // writes them with the response head (finish() leaves res.headers to the handler's).
    static void append_standard_headers(std::string& out, const request& req, const response& res);

  private:
    // Routing, transport checks and access: the response when the request ends here, nullopt
    // when req.route's chain is to run.
    std::optional<response> check_request(request& req);
    void finish(request& req, response& res, const route* r, double seconds);

    const router& router_;
    const static_files* assets_;
    dispatch_options opts_;
};

}  // namespace souk::http
