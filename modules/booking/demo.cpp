// Demo data for newcomers: a handful of events to browse and book within a minute of cloning.
#include <souk/booking/booking.hpp>
#include <souk/core/random.hpp>

namespace souk::booking {

namespace {

constexpr std::int64_t day_ms = 24LL * 3600 * 1000;

struct demo_zone {
    const char* name;
    std::int64_t price;
    std::int64_t capacity;
};

struct demo_event {
    const char* slug;
    const char* title;
    const char* description;
    const char* category;
    const char* venue;
    std::int64_t starts_in_days;
    std::int64_t sale_opens_in_days;  // negative: already open
    std::int64_t max_per_user;
    int shows;
    bool queue;
    std::vector<demo_zone> zones;
};

const std::vector<demo_event>& events() {
    static const std::vector<demo_event> list{
        {"campus-jazz-night",
         "Campus Jazz Night",
         "A warm evening of student jazz combos in the great hall.",
         "music",
         "Great Hall",
         14,
         -1,
         6,
         1,
         false,
         {{"Standing", 0, 200}, {"Balcony", 1500, 50}}},
        {"indie-film-festival",
         "Indie Film Festival",
         "Two days of short films by local directors, with Q&A.",
         "film",
         "Arts Cinema",
         21,
         -1,
         4,
         2,
         false,
         {{"General admission", 800, 120}}},
        {"spring-hackathon",
         "Spring Hackathon",
         "48 hours, free pizza, and mentors from local companies.",
         "tech",
         "Engineering Building",
         30,
         -1,
         1,
         1,
         false,
         {{"Participant", 0, 100}}},
        {"the-rushes-live",
         "The Rushes — Live",
         "The sold-out-in-minutes band, one night only. Waiting room on.",
         "music",
         "Stadium",
         45,
         -1,
         4,
         1,
         true,
         {{"Pit", 4500, 300}, {"Seats", 3000, 1000}}},
        {"poetry-slam",
         "Poetry Slam",
         "Open mic and the regional final. Sales open in three days.",
         "literature",
         "Library Café",
         20,
         3,
         2,
         1,
         false,
         {{"Seat", 500, 60}}},
    };
    return list;
}

}  // namespace

int seed_demo(db::database& d, const souk::clock& clk, const std::string& organizer_id) {
    const auto now = clk.now_ms();
    auto r = d.writer().write_sync<int>([&](db::tx& t) -> result<int> {
        int created = 0;
        for (const auto& e : events()) {
            auto& exists = t.prepare("SELECT 1 FROM events WHERE slug = ?");
            exists.bind(1, e.slug);
            const bool there = exists.step();
            exists.reset();
            if (there) continue;
            const std::string event_id = new_id("evt");
            const auto starts =
                (now / day_ms) * day_ms + e.starts_in_days * day_ms + 19 * 3'600'000LL;
            t.prepare(
                 "INSERT INTO events (id, tenant_id, organizer_id, slug, title, description, "
                 "category, venue, "
                 "starts_ms, sale_starts_ms, max_per_user, currency, status, created_ms, "
                 "updated_ms) VALUES "
                 "(?, 'default', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'USD', 'published', ?, ?)")
                .bind_all(event_id, organizer_id, e.slug, e.title, e.description, e.category,
                          e.venue, starts, now + e.sale_opens_in_days * day_ms, e.max_per_user, now,
                          now)
                .run();
            for (int i = 0; i < e.shows; ++i) {
                const std::string show_id = new_id("shw");
                const auto show_start = starts + i * day_ms;
                t.prepare(
                     "INSERT INTO shows (id, event_id, starts_ms, ends_ms, queue_enabled, "
                     "admit_per_minute, "
                     "created_ms) VALUES (?, ?, ?, ?, ?, 30, ?)")
                    .bind_all(show_id, event_id, show_start, show_start + 3 * 3'600'000LL,
                              std::int64_t{e.queue}, now)
                    .run();
                for (const auto& z : e.zones)
                    t.prepare(
                         "INSERT INTO zones (id, show_id, event_id, name, price_amount, currency, "
                         "capacity, "
                         "created_ms) VALUES (?, ?, ?, ?, ?, 'USD', ?, ?)")
                        .bind_all(new_id("zon"), show_id, event_id, z.name, z.price, z.capacity,
                                  now)
                        .run();
            }
            ++created;
        }
        return created;
    });
    if (!r.ok()) throw std::runtime_error("demo data: " + r.err().message);
    return *r;
}

}  // namespace souk::booking
