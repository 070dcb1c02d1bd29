#include <cassert>
#include <map>
#include <set>
#include <souk/http/router.hpp>
#include <stdexcept>

namespace souk::http {

// One node per path segment: literal children first, then one parameter child.
struct router::node {
    std::map<std::string, std::unique_ptr<node>, std::less<>> literal;
    std::unique_ptr<node> param;
    std::string param_name;
    std::map<http::method, route*> routes;
};

namespace {

template <class F>
void for_each_segment(std::string_view path, F&& f) {
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (!f(path.substr(i, j - i))) return;
        i = j;
    }
}

}  // namespace

router::router() : root_(std::make_unique<node>()) {}
router::~router() = default;

void router::add(http::method m, std::string pattern, route_options options, handler h) {
    if (frozen_) throw std::logic_error("router: add after freeze: " + pattern);
    node* n = root_.get();
    for_each_segment(pattern, [&](std::string_view seg) {
        if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
            std::string name(seg.substr(1, seg.size() - 2));
            if (!n->param) {
                n->param = std::make_unique<node>();
                n->param->param_name = name;
            } else if (n->param->param_name != name) {
                throw std::logic_error("router: conflicting parameter names in " + pattern);
            }
            n = n->param.get();
        } else {
            auto it = n->literal.find(seg);
            if (it == n->literal.end())
                it = n->literal.emplace(std::string(seg), std::make_unique<node>()).first;
            n = it->second.get();
        }
        return true;
    });
    if (n->routes.count(m)) throw std::logic_error("router: duplicate route " + pattern);
    auto r = std::make_unique<route>();
    r->method = m;
    r->name = std::string(to_string(m)) + " " + pattern;
    r->pattern = std::move(pattern);
    r->options = std::move(options);
    r->raw_handler = std::move(h);
    n->routes[m] = r.get();
    routes_.push_back(std::move(r));
}

void router::use(middleware m) {
    if (frozen_) throw std::logic_error("router: use after freeze");
    middlewares_.push_back(std::move(m));
}

void router::freeze(const std::function<void(route&)>& on_route) {
    frozen_ = true;
    for (auto& r : routes_) {
        handler chain = r->raw_handler;
        for (auto it = middlewares_.rbegin(); it != middlewares_.rend(); ++it) {
            chain = [mw = *it, next = std::move(chain)](request& req) { return mw(req, next); };
        }
        r->chain = std::move(chain);
        if (on_route) on_route(*r);
    }
}

namespace {

using param_list = std::vector<std::pair<std::string, std::string>>;

// Depth-first, literal children before the parameter child, so "/events/search" beats
// "/events/{slug}" while still falling back to the parameter on a dead end. A dead end is a
// node that `accept` refuses, so a literal path lacking the method falls back too.
template <class Node, class Accept>
const Node* walk(const Node* n, const std::vector<std::string_view>& segs, std::size_t i,
                 param_list& params, const Accept& accept) {
    if (i == segs.size()) return accept(*n) ? n : nullptr;
    if (auto it = n->literal.find(segs[i]); it != n->literal.end()) {
        if (auto found = walk(it->second.get(), segs, i + 1, params, accept)) return found;
    }
    if (n->param) {
        params.emplace_back(n->param->param_name, std::string(segs[i]));
        if (auto found = walk(n->param.get(), segs, i + 1, params, accept)) return found;
        params.pop_back();
    }
    return nullptr;
}

}  // namespace

match_result router::match(http::method m, std::string_view path, request& req) const {
    std::vector<std::string_view> segs;
    for_each_segment(path, [&](std::string_view s) {
        segs.push_back(s);
        return true;
    });
    match_result out;
    param_list params;
    // HEAD is answered by a GET route when the path has no HEAD route of its own.
    auto route_for = [m](const node& n) -> const route* {
        auto it = n.routes.find(m);
        if (it == n.routes.end() && m == method::head) it = n.routes.find(method::get);
        return it == n.routes.end() ? nullptr : it->second;
    };
    if (const node* found = walk(root_.get(), segs, 0, params,
                                 [&](const node& n) { return route_for(n) != nullptr; })) {
        out.path_matched = true;
        out.route = route_for(*found);
        req.params = std::move(params);
        return out;
    }
    // No route takes this method: collect what every route on the path allows, for the 405.
    params.clear();
    std::set<http::method> allowed;
    walk(root_.get(), segs, 0, params, [&](const node& n) {
        for (const auto& [meth, r] : n.routes)
            allowed.insert(meth);
        return false;  // keep exploring: several patterns may match the path
    });
    if (allowed.empty()) return out;
    out.path_matched = true;
    for (const auto meth : allowed) {
        if (!out.allow.empty()) out.allow += ", ";
        out.allow += to_string(meth);
    }
    return out;
}

}  // namespace souk::http
