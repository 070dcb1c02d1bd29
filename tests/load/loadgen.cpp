// souk_loadgen: an open-loop HTTP/1.1 load generator (plain TCP, keep-alive).
//
// Requests follow a fixed schedule: request i is due at start + i / rate, and connection c sends
// requests c, c + N, c + 2N, ... Latency runs from the DUE time, not from when the request could
// actually be written, so a stalled server cannot hide its stall by slowing the generator down
// (coordinated omission corrected, as in wrk2). A connection still waiting for a response lets
// its next due requests queue; that wait is part of their latency. After the schedule ends the
// requests already due are still sent and awaited (up to --drain seconds).
//
// --rate 0 is closed-loop: every connection sends its next request as soon as the previous one
// has been answered, and latency runs from the actual send.
//
// Prints one JSON line: offered and achieved rate, counts by status, errors, latency percentiles
// from a log-linear histogram (about 0.8% relative resolution), and when answers took over 2 ms:
// a count per 100 ms of due time, so that a stall (many slow answers in a few windows) can be
// told from steady contention (a few in every window).
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// ---- log-linear histogram --------------------------------------------------------------------

// Values (nanoseconds) below 2^sub_bits are exact; above, each power of two is split into
// 2^(sub_bits-1) linear buckets. 64-bit values need (64 - sub_bits + 1) * half + full buckets.
class histogram {
  public:
    static constexpr int sub_bits = 8;
    static constexpr std::uint64_t full = std::uint64_t{1} << sub_bits;
    static constexpr std::uint64_t half = full / 2;
    static constexpr std::size_t bucket_count = full + (64 - sub_bits) * half;

    histogram() : counts_(bucket_count, 0) {}

    void record(std::uint64_t v) {
        ++counts_[index_of(v)];
        ++total_;
        max_ = std::max(max_, v);
        min_ = std::min(min_, v);
        sum_ += static_cast<double>(v);
    }

    void merge(const histogram& o) {
        for (std::size_t i = 0; i < bucket_count; ++i)
            counts_[i] += o.counts_[i];
        total_ += o.total_;
        max_ = std::max(max_, o.max_);
        min_ = std::min(min_, o.min_);
        sum_ += o.sum_;
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return total_ ? max_ : 0; }
    double mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

    // The highest value equivalent to the bucket holding the q-quantile (as HdrHistogram does),
    // never above the exact maximum.
    std::uint64_t quantile(double q) const {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        const std::uint64_t target = std::max<std::uint64_t>(1, rank);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < bucket_count; ++i) {
            seen += counts_[i];
            if (seen >= target) return std::min(upper_of(i), max_);
        }
        return max_;
    }

  private:
    static std::size_t index_of(std::uint64_t v) {
        if (v < full) return static_cast<std::size_t>(v);
        const int k = 63 - std::countl_zero(v);  // k >= sub_bits
        const int shift = k - (sub_bits - 1);
        const std::uint64_t mantissa = v >> shift;  // in [half, full)
        return static_cast<std::size_t>(full + static_cast<std::uint64_t>(shift - 1) * half +
                                        (mantissa - half));
    }
    static std::uint64_t upper_of(std::size_t i) {
        if (i < full) return i;
        const std::uint64_t j = i - full;
        const int shift = static_cast<int>(j / half) + 1;
        const std::uint64_t mantissa = j % half + half;
        return ((mantissa + 1) << shift) - 1;
    }

    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    double sum_ = 0;
};

// ---- options -----------------------------------------------------------------------------------

struct options {
    std::string host = "127.0.0.1";
    std::string port = "80";
    std::string path = "/";
    std::string method = "GET";
    std::string body;
    bool has_body = false;
    std::vector<std::string> headers;
    std::vector<std::string> rotating_headers;  // --header-file: request n sends line n % size
    double rate = 1000;                         // 0: closed loop
    double duration_s = 10;
    double drain_s = 10;
    double timeout_s = 10;
    int connections = 64;
    int threads = 1;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "souk_loadgen: %s\n"
                 "usage: souk_loadgen --url http://HOST:PORT/PATH [--method GET] [--body TEXT]\n"
                 "         [--header 'Name: value']... [--rate REQ_PER_S (0 = closed loop)]\n"
                 "         [--duration S] [--connections N] [--threads T] [--timeout S]\n"
                 "         [--drain S] [--header-file PATH]\n"
                 "  In --body and --header values, {n} becomes a counter unique in this run and\n"
                 "  {run} a random id unique to this run, so that each request can carry a\n"
                 "  distinct key (e.g. -H 'Idempotency-Key: {run}-{n}').\n"
                 "  --header-file: one 'Name: value' header a line; request n carries line\n"
                 "  n %% lines (e.g. rotating Authorization tokens over many users).\n",
                 why);
    std::exit(2);
}

double to_double(const std::string& s, const char* what) {
    try {
        std::size_t used = 0;
        const double v = std::stod(s, &used);
        if (used != s.size() || !std::isfinite(v) || v < 0) throw std::invalid_argument(s);
        return v;
    } catch (const std::exception&) {
        usage((std::string("bad value for ") + what).c_str());
    }
}

void parse_url(options& o, std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.substr(0, scheme.size()) != scheme) usage("only http:// URLs are supported");
    url.remove_prefix(scheme.size());
    const auto slash = url.find('/');
    const std::string_view authority = url.substr(0, slash);
    o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
        o.host = std::string(authority);
        o.port = "80";
    } else {
        o.host = std::string(authority.substr(0, colon));
        o.port = std::string(authority.substr(colon + 1));
    }
    if (o.host.empty() || o.port.empty()) usage("bad --url");
}

options parse_args(int argc, char** argv) {
    options o;
    bool have_url = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--url") {
            parse_url(o, next());
            have_url = true;
        } else if (a == "--method") {
            o.method = next();
        } else if (a == "--body") {
            o.body = next();
            o.has_body = true;
        } else if (a == "--header" || a == "-H") {
            o.headers.push_back(next());
        } else if (a == "--header-file") {
            const std::string path = next();
            std::FILE* f = std::fopen(path.c_str(), "r");
            if (!f) usage(("cannot open " + path).c_str());
            std::string line;
            for (int c; (c = std::fgetc(f)) != EOF;) {
                if (c != '\n') {
                    line += static_cast<char>(c);
                    continue;
                }
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (!line.empty()) o.rotating_headers.push_back(line);
                line.clear();
            }
            if (!line.empty()) o.rotating_headers.push_back(line);
            std::fclose(f);
            if (o.rotating_headers.empty()) usage(("no header lines in " + path).c_str());
        } else if (a == "--rate") {
            o.rate = to_double(next(), "--rate");
        } else if (a == "--duration") {
            o.duration_s = to_double(next(), "--duration");
        } else if (a == "--drain") {
            o.drain_s = to_double(next(), "--drain");
        } else if (a == "--timeout") {
            o.timeout_s = to_double(next(), "--timeout");
        } else if (a == "--connections" || a == "-c") {
            o.connections = static_cast<int>(to_double(next(), "--connections"));
        } else if (a == "--threads" || a == "-t") {
            o.threads = static_cast<int>(to_double(next(), "--threads"));
        } else if (a == "--help" || a == "-h") {
            usage("help");
        } else {
            usage(("unknown option " + a).c_str());
        }
    }
    if (!have_url) usage("--url is required");
    if (o.connections < 1 || o.threads < 1) usage("--connections and --threads must be >= 1");
    if (o.duration_s <= 0) usage("--duration must be > 0");
    o.threads = std::min(o.threads, o.connections);
    return o;
}

// ---- request template --------------------------------------------------------------------------

// The request split around its placeholders so that building one is a few appends.
class request_template {
  public:
    request_template(const options& o, std::string run_id) {
        std::string head = o.method + " " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + o.port +
                           "\r\nUser-Agent: souk_loadgen\r\n";
        bool has_content_type = false;
        for (const auto& h : o.headers) {
            head += h + "\r\n";
            std::string lower = h.substr(0, h.find(':'));
            for (auto& c : lower)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            has_content_type = has_content_type || lower == "content-type";
        }
        if (o.has_body && !has_content_type) head += "Content-Type: application/json\r\n";
        head = substitute_run(head, run_id);
        for (std::size_t from = 0;;) {
            const auto at = head.find("{n}", from);
            head_parts_.push_back(head.substr(from, at == std::string::npos ? at : at - from));
            if (at == std::string::npos) break;
            from = at + 3;
        }
        for (const auto& h : o.rotating_headers)
            rotating_.push_back(h + "\r\n");
        has_body_ = o.has_body;
        // Body parts: literal text interleaved with {n} holes; {run} is substituted now.
        std::string body;
        for (std::size_t i = 0; i < o.body.size();) {
            if (o.body.compare(i, 5, "{run}") == 0) {
                body += run_id;
                i += 5;
            } else {
                body += o.body[i++];
            }
        }
        std::size_t from = 0;
        for (;;) {
            const auto at = body.find("{n}", from);
            parts_.push_back(body.substr(from, at == std::string::npos ? at : at - from));
            if (at == std::string::npos) break;
            from = at + 3;
        }
    }

    void build(std::string& out, std::uint64_t n) const {
        char digits[24];
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
        const std::string_view num(digits, static_cast<std::size_t>(end - digits));
        out.assign(head_parts_[0]);
        for (std::size_t i = 1; i < head_parts_.size(); ++i) {
            out += num;
            out += head_parts_[i];
        }
        if (!rotating_.empty()) out += rotating_[n % rotating_.size()];
        if (!has_body_) {
            out += "\r\n";
            return;
        }
        std::size_t len = 0;
        for (const auto& p : parts_)
            len += p.size();
        len += (parts_.size() - 1) * num.size();
        out += "Content-Length: ";
        out += std::to_string(len);
        out += "\r\n\r\n";
        for (std::size_t i = 0; i < parts_.size(); ++i) {
            if (i) out += num;
            out += parts_[i];
        }
    }

  private:
    static std::string substitute_run(const std::string& s, const std::string& run_id) {
        std::string out;
        for (std::size_t i = 0; i < s.size();) {
            if (s.compare(i, 5, "{run}") == 0) {
                out += run_id;
                i += 5;
            } else {
                out += s[i++];
            }
        }
        return out;
    }

    std::vector<std::string> head_parts_;
    std::vector<std::string> rotating_;
    bool has_body_ = false;
    std::vector<std::string> parts_;
};

// ---- response parsing --------------------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

enum class parse_state { need_more, done, bad };

struct parsed_response {
    int status = 0;
    bool close = false;
    std::size_t consumed = 0;  // bytes of the buffer that belong to this response
};

// Size of a complete chunked body at the start of `s`, or 0 while incomplete; -1 if malformed.
long long chunked_length(std::string_view s) {
    std::size_t pos = 0;
    for (;;) {
        const auto eol = s.find("\r\n", pos);
        if (eol == std::string_view::npos) return 0;
        std::uint64_t size = 0;
        const auto line = s.substr(pos, eol - pos);
        const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (ec != std::errc() || p == line.data()) return -1;
        pos = eol + 2;
        if (size == 0) {
            // Trailers end with an empty line.
            const auto end = s.find("\r\n", pos);
            if (end == std::string_view::npos) return 0;
            if (end == pos) return static_cast<long long>(pos + 2);
            const auto end2 = s.find("\r\n\r\n", pos);
            if (end2 == std::string_view::npos) return 0;
            return static_cast<long long>(end2 + 4);
        }
        if (s.size() < pos + size + 2) return 0;
        pos += size + 2;
    }
}

parse_state parse_response(std::string_view buf, bool head_request, parsed_response& out) {
    const auto header_end = buf.find("\r\n\r\n");
    if (header_end == std::string_view::npos)
        return buf.size() > 65536 ? parse_state::bad : parse_state::need_more;
    const std::string_view head = buf.substr(0, header_end + 2);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return parse_state::bad;
    const auto sp = head.find(' ');
    if (sp == std::string_view::npos || head.size() < sp + 4) return parse_state::bad;
    int status = 0;
    const auto [p, ec] = std::from_chars(head.data() + sp + 1, head.data() + sp + 4, status);
    if (ec != std::errc()) return parse_state::bad;
    out.status = status;
    out.close = head.substr(0, sp) == "HTTP/1.0";
    long long content_length = -1;
    bool chunked = false;
    std::size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
        const auto eol = head.find("\r\n", pos);
        const auto line = head.substr(pos, eol - pos);
        pos = eol + 2;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const auto name = trim(line.substr(0, colon));
        const auto value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            std::from_chars(value.data(), value.data() + value.size(), content_length);
        } else if (iequals(name, "transfer-encoding")) {
            chunked = value.find("chunked") != std::string_view::npos;
        } else if (iequals(name, "connection")) {
            if (iequals(value, "close")) out.close = true;
            if (iequals(value, "keep-alive")) out.close = false;
        }
    }
    const std::size_t body_at = header_end + 4;
    const bool bodiless = head_request || status == 204 || status == 304 || status < 200;
    if (bodiless) {
        out.consumed = body_at;
        return parse_state::done;
    }
    if (chunked) {
        const long long n = chunked_length(buf.substr(body_at));
        if (n < 0) return parse_state::bad;
        if (n == 0) return parse_state::need_more;
        out.consumed = body_at + static_cast<std::size_t>(n);
        return parse_state::done;
    }
    if (content_length < 0) {
        out.close = true;  // body until EOF: not supported for keep-alive measurement
        return parse_state::bad;
    }
    if (buf.size() < body_at + static_cast<std::size_t>(content_length))
        return parse_state::need_more;
    out.consumed = body_at + static_cast<std::size_t>(content_length);
    return parse_state::done;
}

// ---- the run -----------------------------------------------------------------------------------

enum error_kind : std::size_t {
    connect_error,
    write_error,
    read_error,
    timeout,
    bad_response,
    error_kinds
};
constexpr std::array<const char*, error_kinds> error_names{"connect", "write", "read", "timeout",
                                                           "bad_response"};

struct thread_stats {
    histogram latency;
    histogram send_lag;  // actual send - due time (open loop only)
    std::map<int, std::uint64_t> by_status;
    std::map<int, histogram> latency_by_status;
    std::array<std::uint64_t, error_kinds> errors{};
    std::uint64_t unfinished = 0;  // due but not answered by the end of the drain
    steady::time_point last_completion{};
    std::uint64_t completed = 0;
    std::vector<std::uint32_t> slow_by_window;  // answers over slow_ns, per window of due time
};

constexpr std::uint64_t slow_ns = 2'000'000;
constexpr auto slow_window = std::chrono::milliseconds(100);

struct shared_run {
    const options& opts;
    const request_template& tmpl;
    tcp::resolver::results_type endpoints;
    steady::time_point start;
    steady::time_point schedule_end;  // no request is due at or after this
    steady::time_point hard_end;      // schedule_end + drain
    std::uint64_t total_due = 0;      // open loop: requests in the schedule
    std::atomic<std::uint64_t> closed_counter{0};
};

struct connection_slot {
    explicit connection_slot(asio::io_context& io) : socket(io), timer(io) {}
    tcp::socket socket;
    asio::steady_timer timer;
    bool in_flight = false;
    steady::time_point op_started{};
    bool timed_out = false;
    std::string request;
    std::vector<char> buffer = std::vector<char>(16384);
    std::size_t buffer_used = 0;
};

class worker {
  public:
    worker(shared_run& run, std::vector<int> conn_ids) : run_(run), ids_(std::move(conn_ids)) {}

    // Connects every connection of this worker (before the clock starts).
    bool connect_all() {
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            slots_.push_back(std::make_unique<connection_slot>(io_));
            boost::system::error_code ec;
            asio::connect(slots_.back()->socket, run_.endpoints, ec);
            if (ec) {
                std::fprintf(stderr, "souk_loadgen: connect failed: %s\n", ec.message().c_str());
                return false;
            }
            slots_.back()->socket.set_option(tcp::no_delay(true));
        }
        return true;
    }

    void run() {
        for (std::size_t i = 0; i < ids_.size(); ++i)
            asio::co_spawn(io_, connection_loop(static_cast<std::uint64_t>(ids_[i]), *slots_[i]),
                           [this](std::exception_ptr) { --live_; });
        live_ = static_cast<int>(ids_.size());
        asio::co_spawn(io_, watchdog(), asio::detached);
        io_.run();
    }

    thread_stats stats;

  private:
    // Cancels the socket of a connection whose request has waited longer than --timeout, and
    // everything still open at the hard end.
    asio::awaitable<void> watchdog() {
        asio::steady_timer t(io_);
        const auto timeout = std::chrono::duration_cast<steady::duration>(
            std::chrono::duration<double>(run_.opts.timeout_s));
        while (live_ > 0) {
            t.expires_after(std::chrono::milliseconds(50));
            co_await t.async_wait(nothrow);
            const auto now = steady::now();
            for (auto& s : slots_) {
                const bool late = s->in_flight && now - s->op_started > timeout;
                if (late || now >= run_.hard_end) {
                    s->timed_out = s->timed_out || late;
                    boost::system::error_code ignored;
                    s->socket.cancel(ignored);
                    s->timer.cancel();
                }
            }
        }
    }

    asio::awaitable<bool> reconnect(connection_slot& s) {
        boost::system::error_code ignored;
        s.socket.close(ignored);
        s.socket = tcp::socket(io_);
        while (steady::now() < run_.hard_end) {
            auto [ec, ep] = co_await asio::async_connect(s.socket, run_.endpoints, nothrow);
            if (!ec) {
                s.socket.set_option(tcp::no_delay(true), ignored);
                co_return true;
            }
            ++stats.errors[connect_error];
            s.socket.close(ignored);
            s.socket = tcp::socket(io_);
            s.timer.expires_after(std::chrono::milliseconds(10));
            co_await s.timer.async_wait(nothrow);
        }
        co_return false;
    }

    // One exchange; returns false when the connection must be re-established.
    asio::awaitable<bool> exchange(connection_slot& s, std::uint64_t n, steady::time_point due,
                                   bool open_loop) {
        run_.tmpl.build(s.request, n);
        const bool head = run_.opts.method == "HEAD";
        const auto sent = steady::now();
        if (open_loop) stats.send_lag.record(static_cast<std::uint64_t>((sent - due).count()));
        s.in_flight = true;
        s.op_started = sent;
        s.timed_out = false;
        auto done = [&](error_kind e) {
            s.in_flight = false;
            if (steady::now() >= run_.hard_end && !s.timed_out) {
                ++stats.unfinished;  // cut off by the end of the drain
            } else {
                ++stats.errors[s.timed_out ? timeout : e];
            }
            return false;
        };
        auto [wec, wn] = co_await asio::async_write(s.socket, asio::buffer(s.request), nothrow);
        if (wec) co_return done(write_error);
        for (;;) {
            parsed_response r;
            const auto st =
                s.buffer_used
                    ? parse_response(std::string_view(s.buffer.data(), s.buffer_used), head, r)
                    : parse_state::need_more;
            if (st == parse_state::bad) co_return done(bad_response);
            if (st == parse_state::done) {
                const auto now = steady::now();
                s.in_flight = false;
                const auto from = open_loop ? due : sent;
                stats.latency.record(static_cast<std::uint64_t>((now - from).count()));
                if (static_cast<std::uint64_t>((now - from).count()) > slow_ns && due >= run_.start)
                    count_slow(due - run_.start);
                stats.latency_by_status[r.status].record(
                    static_cast<std::uint64_t>((now - from).count()));
                ++stats.by_status[r.status];
                ++stats.completed;
                stats.last_completion = std::max(stats.last_completion, now);
                std::memmove(s.buffer.data(), s.buffer.data() + r.consumed,
                             s.buffer_used - r.consumed);
                s.buffer_used -= r.consumed;
                co_return !r.close;
            }
            if (s.buffer.size() - s.buffer_used < 4096) s.buffer.resize(s.buffer.size() * 2);
            auto [rec, rn] = co_await s.socket.async_read_some(
                asio::buffer(s.buffer.data() + s.buffer_used, s.buffer.size() - s.buffer_used),
                nothrow);
            if (rec) co_return done(read_error);
            s.buffer_used += rn;
        }
    }

    void count_slow(steady::duration since_start) {
        const auto w = static_cast<std::size_t>(since_start / slow_window);
        if (w >= stats.slow_by_window.size()) stats.slow_by_window.resize(w + 1, 0);
        ++stats.slow_by_window[w];
    }

    asio::awaitable<void> connection_loop(std::uint64_t conn_id, connection_slot& s) {
        const bool open_loop = run_.opts.rate > 0;
        const auto n_conns = static_cast<std::uint64_t>(run_.opts.connections);
        bool connected = true;
        for (std::uint64_t k = 0;; ++k) {
            std::uint64_t n;
            steady::time_point due;
            if (open_loop) {
                n = conn_id + k * n_conns;
                if (n >= run_.total_due) break;
                due = run_.start +
                      std::chrono::duration_cast<steady::duration>(
                          std::chrono::duration<double>(static_cast<double>(n) / run_.opts.rate));
                if (steady::now() >= run_.hard_end) {
                    // Never answered within the drain: these (and the rest) are unfinished.
                    stats.unfinished += (run_.total_due - n + n_conns - 1) / n_conns;
                    break;
                }
                if (due > steady::now()) {
                    s.timer.expires_at(due);
                    co_await s.timer.async_wait(nothrow);
                }
            } else {
                if (steady::now() >= run_.schedule_end) break;
                n = run_.closed_counter.fetch_add(1, std::memory_order_relaxed);
                due = steady::now();
            }
            if (!connected) {
                if (!co_await reconnect(s)) {
                    if (open_loop) stats.unfinished += (run_.total_due - n + n_conns - 1) / n_conns;
                    break;
                }
                connected = true;
            }
            if (!co_await exchange(s, n, due, open_loop)) {
                connected = false;
                s.buffer_used = 0;
            }
        }
        boost::system::error_code ignored;
        s.socket.close(ignored);
    }

    shared_run& run_;
    std::vector<int> ids_;
    asio::io_context io_{1};
    std::vector<std::unique_ptr<connection_slot>> slots_;
    int live_ = 0;
};

std::string random_run_id() {
    std::random_device rd;
    std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                        static_cast<std::uint64_t>(steady::now().time_since_epoch().count()));
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(rng()));
    return out;
}

double ms(std::uint64_t ns) {
    return static_cast<double>(ns) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    const options opts = parse_args(argc, argv);
    const std::string run_id = random_run_id();
    const request_template tmpl(opts, run_id);

    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(opts.host, opts.port, ec);
    if (ec) {
        std::fprintf(stderr, "souk_loadgen: cannot resolve %s:%s: %s\n", opts.host.c_str(),
                     opts.port.c_str(), ec.message().c_str());
        return 1;
    }

    shared_run run{opts, tmpl, endpoints, {}, {}, {}, 0, {}};
    if (opts.rate > 0)
        run.total_due = static_cast<std::uint64_t>(std::llround(opts.rate * opts.duration_s));

    std::vector<std::unique_ptr<worker>> workers;
    for (int t = 0; t < opts.threads; ++t) {
        std::vector<int> ids;
        for (int c = t; c < opts.connections; c += opts.threads)
            ids.push_back(c);
        workers.push_back(std::make_unique<worker>(run, std::move(ids)));
    }
    for (auto& w : workers) {
        if (!w->connect_all()) {
            std::printf("{\"error\":\"connect failed\"}\n");
            return 1;
        }
    }

    // Everyone starts together, shortly after all the threads exist.
    run.start = steady::now() + std::chrono::milliseconds(20);
    run.schedule_end = run.start + std::chrono::duration_cast<steady::duration>(
                                       std::chrono::duration<double>(opts.duration_s));
    run.hard_end = run.schedule_end + std::chrono::duration_cast<steady::duration>(
                                          std::chrono::duration<double>(opts.drain_s));
    std::vector<std::thread> threads;
    for (auto& w : workers)
        threads.emplace_back([&w] { w->run(); });
    for (auto& t : threads)
        t.join();

    thread_stats all;
    for (auto& w : workers) {
        all.latency.merge(w->stats.latency);
        all.send_lag.merge(w->stats.send_lag);
        for (auto [s, n] : w->stats.by_status)
            all.by_status[s] += n;
        for (const auto& [s, hist] : w->stats.latency_by_status)
            all.latency_by_status[s].merge(hist);
        for (std::size_t i = 0; i < error_kinds; ++i)
            all.errors[i] += w->stats.errors[i];
        all.unfinished += w->stats.unfinished;
        all.completed += w->stats.completed;
        all.last_completion = std::max(all.last_completion, w->stats.last_completion);
        const auto& slow = w->stats.slow_by_window;
        if (slow.size() > all.slow_by_window.size()) all.slow_by_window.resize(slow.size(), 0);
        for (std::size_t i = 0; i < slow.size(); ++i)
            all.slow_by_window[i] += slow[i];
    }
    // Achieved rate: answers over the time from the start to the later of the schedule end and
    // the last answer (a server that falls behind shows up as a lower rate).
    const auto end = std::max(run.schedule_end, all.last_completion);
    const double elapsed = std::chrono::duration<double>(end - run.start).count();
    std::uint64_t errors = all.unfinished;
    for (auto e : all.errors)
        errors += e;

    std::string out = "{";
    char tmp[256];
    auto add = [&](const char* fmt, auto... args) {
        std::snprintf(tmp, sizeof tmp, fmt, args...);
        out += tmp;
    };
    add("\"mode\":\"%s\",", opts.rate > 0 ? "open" : "closed");
    out += "\"url\":\"http://" + opts.host + ":" + opts.port + opts.path + "\",";
    out += "\"method\":\"" + opts.method + "\",";
    add("\"connections\":%d,\"threads\":%d,\"duration_s\":%.3f,", opts.connections, opts.threads,
        opts.duration_s);
    if (opts.rate > 0) {
        add("\"offered_rps\":%.1f,\"scheduled\":%llu,", opts.rate,
            static_cast<unsigned long long>(run.total_due));
    } else {
        out += "\"offered_rps\":null,";
    }
    add("\"achieved_rps\":%.1f,\"completed\":%llu,\"elapsed_s\":%.3f,",
        static_cast<double>(all.completed) / elapsed,
        static_cast<unsigned long long>(all.completed), elapsed);
    out += "\"status\":{";
    bool first = true;
    for (auto [s, n] : all.by_status) {
        add("%s\"%d\":%llu", first ? "" : ",", s, static_cast<unsigned long long>(n));
        first = false;
    }
    add("},\"errors\":%llu,\"error_kinds\":{", static_cast<unsigned long long>(errors));
    for (std::size_t i = 0; i < error_kinds; ++i)
        add("\"%s\":%llu,", error_names[i], static_cast<unsigned long long>(all.errors[i]));
    add("\"unfinished\":%llu},", static_cast<unsigned long long>(all.unfinished));
    const auto& h = all.latency;
    add("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p99.9\":%.3f,\"max\":%.3f,"
        "\"mean\":%.3f},",
        ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.quantile(0.999)),
        ms(h.max()), h.mean() / 1e6);
    out += "\"latency_ms_by_status\":{";
    first = true;
    for (const auto& [s, hs] : all.latency_by_status) {
        add("%s\"%d\":{\"p50\":%.3f,\"p99\":%.3f,\"p99.9\":%.3f,\"max\":%.3f}", first ? "" : ",", s,
            ms(hs.quantile(0.5)), ms(hs.quantile(0.99)), ms(hs.quantile(0.999)), ms(hs.max()));
        first = false;
    }
    out += "},";
    const auto& l = all.send_lag;
    add("\"send_lag_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", ms(l.quantile(0.5)),
        ms(l.quantile(0.99)), ms(l.max()));
    // [second, answers over 2 ms] for each 100 ms window of due time that had any.
    out += ",\"slow_2ms_by_100ms\":[";
    first = true;
    for (std::size_t i = 0; i < all.slow_by_window.size(); ++i) {
        if (all.slow_by_window[i] == 0) continue;
        add("%s[%.1f,%u]", first ? "" : ",", static_cast<double>(i) / 10, all.slow_by_window[i]);
        first = false;
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
}
