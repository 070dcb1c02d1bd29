#include <cstdio>
#include <souk/core/clock.hpp>

namespace souk {

std::string format_rfc3339_ms(std::int64_t unix_ms) {
    return format_rfc3339(sys_time(std::chrono::milliseconds(unix_ms)));
}

std::string format_rfc3339(sys_time t) {
    // By hand: gmtime_r and snprintf were a few percent of every reservation's CPU (its answer
    // carries two times).
    using namespace std::chrono;
    const auto ms = t.time_since_epoch().count();
    const auto day = floor<days>(sys_time(milliseconds(ms)));
    const year_month_day ymd{sys_days(day)};
    std::int64_t in_day = ms - duration_cast<milliseconds>(day.time_since_epoch()).count();
    const int millis = static_cast<int>(in_day % 1000);
    in_day /= 1000;
    const int sec = static_cast<int>(in_day % 60), min = static_cast<int>(in_day / 60 % 60),
              hour = static_cast<int>(in_day / 3600);
    std::string out(24, '0');  // YYYY-MM-DDTHH:MM:SS.mmmZ
    auto put = [&out](std::size_t at, int value, int width) {
        for (int i = width - 1; i >= 0; --i, value /= 10)
            out[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    };
    const int y = static_cast<int>(ymd.year());
    if (y < 0 || y > 9999) {  // outside RFC 3339's four digits: the slow, general way
        char buf[64];
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y,
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hour,
                      min, sec, millis);
        return buf;
    }
    put(0, y, 4);
    out[4] = '-';
    put(5, static_cast<int>(static_cast<unsigned>(ymd.month())), 2);
    out[7] = '-';
    put(8, static_cast<int>(static_cast<unsigned>(ymd.day())), 2);
    out[10] = 'T';
    put(11, hour, 2);
    out[13] = ':';
    put(14, min, 2);
    out[16] = ':';
    put(17, sec, 2);
    out[19] = '.';
    put(20, millis, 3);
    out[23] = 'Z';
    return out;
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

}  // namespace

bool parse_rfc3339(std::string_view s, sys_time& out) {
    int y, mo, d, h, mi, se;
    if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) ||
        s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
        !digits(s, 17, 2, se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
    std::size_t pos = 19;
    int millis = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int scale = 100, n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            millis += (s[pos] - '0') * scale;
            scale /= 10;
            ++pos;
            ++n;
        }
        if (n == 0) return false;
    }
    int offset_min = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        int oh, om;
        if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
            !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
            return false;
        offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return false;
    }
    if (pos != s.size()) return false;
    using namespace std::chrono;
    const auto ymd =
        year_month_day{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return false;
    const auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{se} + milliseconds{millis} -
                    minutes{offset_min};
    out = time_point_cast<milliseconds>(tp);
    return true;
}

}  // namespace souk
