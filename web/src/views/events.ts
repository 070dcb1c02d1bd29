// Home (search, category, pages), the event page (shows, sale countdown, live zones) and the
// booking step (zone + quantity, waiting room, reserve).

import { api, navigate, session } from "../app";
import { ApiError, newIdempotencyKey } from "../lib/api";
import { field, h, replace } from "../lib/dom";
import { formatDate, formatDateTime, formatMoney, quantityChoices } from "../lib/format";
import type { Page, RouteContext } from "../lib/router";
import type { Booking, EventItem, QueueState, Show, Zone } from "../lib/types";
import { announce, countdown, empty, errorBox, loading, pageHeading, pagination, poll } from "../lib/ui";

export const CATEGORIES = ["music", "film", "tech", "literature", "theatre", "sports", "food", "family", "other"];
const PER_PAGE = 12;

export function saleOpen(e: Pick<EventItem, "sale_starts_at">, now = Date.now()): boolean {
  return new Date(e.sale_starts_at).getTime() <= now;
}

function eventCard(e: EventItem): HTMLElement {
  const open = saleOpen(e);
  return h(
    "li",
    { class: "card" },
    h("h2", null, h("a", { href: `/events/${encodeURIComponent(e.slug)}` }, e.title)),
    h("p", { class: "meta" }, h("time", { datetime: e.starts_at }, formatDate(e.starts_at)), " · ", e.venue || "Venue to be announced"),
    e.category ? h("p", null, h("span", { class: "badge" }, e.category)) : null,
    h("p", { class: "desc" }, e.description.length > 160 ? `${e.description.slice(0, 157)}…` : e.description),
    open ? null : h("p", { class: "muted" }, `Sales open ${formatDateTime(e.sale_starts_at)}`),
  );
}

export async function homeView(ctx: RouteContext): Promise<Page> {
  const q = ctx.query.get("q") ?? "";
  const category = ctx.query.get("category") ?? "";
  const page = Math.max(1, Number(ctx.query.get("page") ?? "1") || 1);

  const search = field({ label: "Search events", name: "q", type: "search", value: q });
  const cat = field({
    label: "Category",
    name: "category",
    value: category,
    options: [{ value: "", label: "All categories" }, ...CATEGORIES.map((c) => ({ value: c, label: c[0]!.toUpperCase() + c.slice(1) }))],
  });
  const hrefFor = (p: number, qq = q, cc = category) => {
    const s = new URLSearchParams();
    if (qq) s.set("q", qq);
    if (cc) s.set("category", cc);
    if (p > 1) s.set("page", String(p));
    const str = s.toString();
    return str ? `/?${str}` : "/";
  };
  const form = h(
    "form",
    {
      role: "search",
      class: "search",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        navigate(hrefFor(1, search.input.value.trim(), cat.input.value));
      },
    },
    search.wrap,
    cat.wrap,
    h("button", { type: "submit" }, "Search"),
  );
  // No navigation on "change": keyboard users move through the options (WCAG 3.2.2).

  const results = h("section", { "aria-labelledby": "h-results", class: "results" });
  const load = async () => {
    results.replaceChildren(loading("Loading events…"));
    try {
      const r = await api.list<EventItem>("/events", { query: { q, category, page, per_page: PER_PAGE }, signal: ctx.signal });
      const total = r.meta?.total ?? r.data.length;
      const heading = h("h2", { id: "h-results", class: "sr-only" }, "Results");
      const summary = h("p", { role: "status", class: "muted" }, total === 0 ? "" : `${total} event${total === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}`);
      if (r.data.length === 0) {
        results.replaceChildren(
          heading,
          empty(
            q || category ? "No events match your search." : "No events yet. Check back soon!",
            q || category ? h("a", { href: "/" }, "Show all events") : "",
          ),
        );
        return;
      }
      results.replaceChildren(
        heading,
        summary,
        h("ul", { class: "cards" }, r.data.map(eventCard)),
        pagination(page, r.meta?.per_page ?? PER_PAGE, total, (p) => hrefFor(p)) ?? "",
      );
    } catch (e) {
      results.replaceChildren(errorBox(e, () => void load(), ctx.signal));
    }
  };
  await load();
  return {
    title: q ? `Events matching “${q}”` : "Events",
    node: h("div", { class: "stack" }, pageHeading("Find an event"), form, results),
  };
}

function zonesTable(zones: Zone[]): HTMLElement {
  if (!zones.length) return h("p", { class: "muted" }, "No tickets on sale for this show yet.");
  return h(
    "table",
    { class: "zones" },
    h("caption", { class: "sr-only" }, "Ticket zones"),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Zone"), h("th", { scope: "col" }, "Price"), h("th", { scope: "col" }, "Available"))),
    h(
      "tbody",
      null,
      zones.map((z) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, z.name),
          h("td", null, formatMoney(z.price)),
          h("td", null, z.available > 0 ? `${z.available} of ${z.capacity}` : h("span", { class: "badge sold" }, "Sold out")),
        ),
      ),
    ),
  );
}

export async function eventView(ctx: RouteContext): Promise<Page> {
  const slug = ctx.params["slug"]!;
  const ev = await api.get<EventItem>(`/events/${encodeURIComponent(slug)}`, { signal: ctx.signal });
  const shows = ev.shows ?? [];
  const saleBox = h("div");
  const showsList = h("ul", { class: "shows" });

  const renderShows = (open: boolean) => {
    showsList.replaceChildren();
    if (!shows.length) {
      showsList.append(h("li", null, empty("No dates announced yet.")));
      return;
    }
    for (const s of shows) {
      const zonesBox = h("div", { class: "zones-box", "aria-live": "polite", "aria-busy": "true" }, loading("Loading availability…"));
      const bookHref = `/events/${encodeURIComponent(ev.slug)}/book/${encodeURIComponent(s.id)}`;
      const headingId = `show-${s.id}`;
      showsList.append(
        h(
          "li",
          { class: "show card", "aria-labelledby": headingId },
          h("h3", { id: headingId }, h("time", { datetime: s.starts_at }, formatDateTime(s.starts_at))),
          s.queue.enabled ? h("p", null, h("span", { class: "badge queue" }, "Waiting room"), " High demand: you'll wait your turn before booking.") : null,
          zonesBox,
          open
            ? h("p", null, h("a", { class: "button", href: bookHref, "aria-describedby": headingId }, "Book"))
            : h("p", { class: "muted" }, "Booking opens when sales start."),
        ),
      );
      // Live availability: the engine's numbers, refreshed while the page is open.
      let last = "";
      poll(
        ctx.signal,
        async () => {
          try {
            const zones = await api.get<Zone[]>(`/shows/${encodeURIComponent(s.id)}/zones`, { signal: ctx.signal });
            const key = JSON.stringify(zones.map((z) => [z.id, z.available]));
            if (key !== last) {
              last = key;
              replace(zonesBox, zonesTable(zones));
            }
            zonesBox.removeAttribute("aria-busy");
          } catch (e) {
            if (!last) replace(zonesBox, errorBox(e));
            throw e;
          }
          return 10000;
        },
        0,
      );
    }
  };

  const open = saleOpen(ev);
  if (!open) {
    saleBox.append(
      h(
        "div",
        { class: "alert info" },
        h("p", null, `Ticket sales open ${formatDateTime(ev.sale_starts_at)}.`),
        countdown(new Date(ev.sale_starts_at), ctx.signal, {
          label: "Sales open in",
          done: () => {
            saleBox.replaceChildren(h("div", { class: "alert success", role: "status" }, h("p", null, "Sales are open!")));
            announce("Ticket sales are open.");
            renderShows(true);
          },
        }),
      ),
    );
  }
  renderShows(open);

  const node = h(
    "article",
    { class: "stack event" },
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "← All events")),
    pageHeading(ev.title),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "When"),
      h("dd", null, h("time", { datetime: ev.starts_at }, formatDateTime(ev.starts_at))),
      h("dt", null, "Where"),
      h("dd", null, ev.venue || "To be announced"),
      ev.category ? [h("dt", null, "Category"), h("dd", null, ev.category)] : null,
      h("dt", null, "Limit"),
      h("dd", null, `${ev.max_per_user} ticket${ev.max_per_user === 1 ? "" : "s"} per person`),
    ),
    ev.status !== "published" ? h("p", null, h("span", { class: "badge warn" }, "Draft: only you can see this")) : null,
    h("p", { class: "desc" }, ev.description),
    saleBox,
    h("section", { "aria-labelledby": "h-shows" }, h("h2", { id: "h-shows" }, "Dates and tickets"), showsList),
  );
  return { title: ev.title, node };
}

/** Tickets the user holds or has for an event (counted against max_per_user). */
export function ticketsHeld(bookings: Booking[], eventId: string): number {
  return bookings
    .filter((b) => b.event_id === eventId && (b.status === "reserved" || b.status === "confirmed"))
    .reduce((n, b) => n + b.quantity, 0);
}

async function allMyBookings(signal: AbortSignal): Promise<Booking[]> {
  const out: Booking[] = [];
  for (let page = 1; page <= 10; page++) {
    const r = await api.list<Booking>("/bookings", { query: { page, per_page: 100 }, signal });
    out.push(...r.data);
    if (!r.meta || page * r.meta.per_page >= r.meta.total) break;
  }
  return out;
}

// Queue passes by show, kept in memory for this tab until they expire.
const passes = new Map<string, { pass: string; expires: number }>();

export async function bookView(ctx: RouteContext): Promise<Page> {
  const slug = ctx.params["slug"]!;
  const showId = ctx.params["show"]!;
  const ev = await api.get<EventItem>(`/events/${encodeURIComponent(slug)}`, { signal: ctx.signal });
  const show: Show | undefined = ev.shows?.find((s) => s.id === showId);
  if (!show) throw new ApiError(404, "NOT_FOUND", "no such show");
  const back = h("p", { class: "crumbs" }, h("a", { href: `/events/${encodeURIComponent(ev.slug)}` }, `← ${ev.title}`));
  const title = `Book: ${ev.title}`;
  const heading = pageHeading(`Book tickets for ${ev.title}`);
  const when = h("p", { class: "meta" }, h("time", { datetime: show.starts_at }, formatDateTime(show.starts_at)), " · ", ev.venue);

  if (!session.loggedIn) {
    const next = encodeURIComponent(ctx.path);
    return {
      title,
      node: h(
        "section",
        { class: "stack" },
        back,
        heading,
        when,
        h("p", null, "Log in or create an account to book."),
        h("p", { class: "actions" }, h("a", { class: "button", href: `/login?next=${next}` }, "Log in"), h("a", { class: "button secondary", href: `/signup` }, "Sign up")),
      ),
    };
  }

  const [zones, mine] = await Promise.all([
    api.get<Zone[]>(`/shows/${encodeURIComponent(show.id)}/zones`, { signal: ctx.signal }),
    allMyBookings(ctx.signal),
  ]);
  const held = ticketsHeld(mine, ev.id);
  const left = Math.max(0, ev.max_per_user - held);

  const alertSlot = h("div", { class: "form-alert" });
  const queueBox = h("div", { class: "queue-box" });
  const zoneGroupId = "zone-legend";
  const zoneInputs: HTMLInputElement[] = [];
  const quantity = h("select", { id: "quantity", name: "quantity" }) as HTMLSelectElement;
  const qtyHint = h("p", { class: "hint", id: "quantity-hint" });
  quantity.setAttribute("aria-describedby", "quantity-hint");
  const submit = h("button", { type: "submit" }, "Reserve");

  const selectedZone = () => zones.find((z) => zoneInputs.find((i) => i.checked)?.value === z.id);
  const fillQuantities = () => {
    const z = selectedZone();
    const choices = quantityChoices(ev.max_per_user, z ? z.available : 0, held);
    const prev = quantity.value;
    quantity.replaceChildren(...choices.map((n) => h("option", { value: String(n) }, String(n))));
    if (choices.includes(Number(prev))) quantity.value = prev;
    quantity.disabled = choices.length === 0;
    qtyHint.textContent =
      held > 0
        ? `You already have ${held} ticket${held === 1 ? "" : "s"} for this event; the limit is ${ev.max_per_user} per person.`
        : `Up to ${ev.max_per_user} ticket${ev.max_per_user === 1 ? "" : "s"} per person.`;
  };

  const zoneList = h(
    "fieldset",
    { class: "zone-choice" },
    h("legend", { id: zoneGroupId }, "Zone"),
    zones.map((z, i) => {
      const id = `zone-${z.id}`;
      const input = h("input", { type: "radio", name: "zone", id, value: z.id, disabled: z.available <= 0, checked: false });
      zoneInputs.push(input);
      input.addEventListener("change", fillQuantities);
      if (i === zones.findIndex((x) => x.available > 0)) input.checked = true;
      return h(
        "div",
        { class: "radio" },
        input,
        h(
          "label",
          { for: id },
          h("span", { class: "zone-name" }, z.name),
          " — ",
          formatMoney(z.price),
          " — ",
          z.available > 0 ? `${z.available} left` : "sold out",
        ),
      );
    }),
  );

  // One Idempotency-Key per attempt; kept only when we could not tell whether the last one
  // reached the server (a network error), so that sending it again cannot book twice.
  let carriedKey: string | null = null;
  const reserve = async () => {
    const z = selectedZone();
    if (!z) {
      alertSlot.replaceChildren(h("div", { class: "alert error", role: "alert" }, h("p", null, "Choose a zone.")));
      zoneInputs.find((i) => !i.disabled)?.focus();
      return;
    }
    const headers: Record<string, string> = { "Idempotency-Key": carriedKey ?? newIdempotencyKey() };
    const p = passes.get(show.id);
    if (p && p.expires > Date.now()) headers["X-Queue-Pass"] = p.pass;
    carriedKey = headers["Idempotency-Key"]!;
    submit.disabled = true;
    submit.textContent = "Reserving…";
    alertSlot.replaceChildren();
    try {
      const b = await api.post<Booking>(
        "/bookings/reserve",
        { show_id: show.id, zone_id: z.id, quantity: Number(quantity.value) },
        { headers },
      );
      carriedKey = null;
      announce("Tickets reserved.");
      // Paid tickets go to the checkout, free ones to the booking (to confirm).
      navigate(b.amount.amount > 0 ? `/checkout/${encodeURIComponent(b.id)}` : `/bookings/${encodeURIComponent(b.id)}`);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "NETWORK")) carriedKey = null;
      submit.disabled = false;
      submit.textContent = "Reserve";
      alertSlot.replaceChildren(errorBox(e, () => void reserve(), ctx.signal));
      (alertSlot.firstElementChild as HTMLElement | null)?.setAttribute("tabindex", "-1");
      (alertSlot.firstElementChild as HTMLElement | null)?.focus();
      if (e instanceof ApiError && e.code === "QUEUE_PASS_REQUIRED") {
        passes.delete(show.id);
        startQueue();
      }
      if (e instanceof ApiError && (e.code === "INSUFFICIENT_STOCK" || e.code === "USER_LIMIT_EXCEEDED")) {
        // Fresh numbers for the next try.
        try {
          const fresh = await api.get<Zone[]>(`/shows/${encodeURIComponent(show.id)}/zones`);
          for (const f of fresh) {
            const old = zones.find((x) => x.id === f.id);
            if (old) old.available = f.available;
          }
          fillQuantities();
        } catch {
          /* the message is shown already */
        }
      }
    }
  };

  const form = h(
    "form",
    {
      class: "book-form",
      novalidate: true,
      onsubmit: (e: Event) => {
        e.preventDefault();
        void reserve();
      },
    },
    alertSlot,
    zoneList,
    h("div", { class: "field" }, h("label", { for: "quantity" }, "Number of tickets"), qtyHint, quantity),
    h("p", { class: "actions" }, submit),
  );
  fillQuantities();

  const setFormEnabled = (on: boolean) => {
    form.hidden = !on;
  };

  // The waiting room: join, show position and wait, poll, continue with the pass.
  const startQueue = () => {
    setFormEnabled(false);
    const status = h("p", { class: "queue-status", role: "status", "aria-live": "polite" }, "Joining the waiting room…");
    const detail = h("p", { class: "muted" });
    queueBox.replaceChildren(
      h(
        "div",
        { class: "alert info waiting-room" },
        h("h2", null, "Waiting room"),
        h("p", null, "Lots of people want these tickets. You have a place in line; keep this page open and we'll move you on when it's your turn."),
        status,
        detail,
      ),
    );
    const render = (st: QueueState) => {
      if (st.status === "ready" && st.queue_pass) {
        const expires = st.queue_pass_expires_at ? new Date(st.queue_pass_expires_at).getTime() : Date.now() + 5 * 60_000;
        passes.set(show.id, { pass: st.queue_pass, expires });
        queueBox.replaceChildren(
          h(
            "div",
            { class: "alert success", role: "status" },
            h("p", null, h("strong", null, "It's your turn!"), " Choose your tickets now."),
            countdown(new Date(expires), ctx.signal, {
              label: "Your turn ends in",
              done: () => {
                passes.delete(show.id);
                startQueue();
              },
            }),
          ),
        );
        setFormEnabled(true);
        announce("It's your turn. Choose your tickets now.");
        zoneInputs.find((i) => i.checked)?.focus();
        return false;
      }
      if (st.status === "expired") {
        passes.delete(show.id);
        status.textContent = "Your turn has passed.";
        detail.replaceChildren(h("button", { type: "button", onclick: () => startQueue() }, "Join the waiting room again"));
        return false;
      }
      status.textContent = st.position > 0 ? `You are number ${st.position} in line.` : "You are in line.";
      detail.textContent = st.estimated_wait_seconds > 0 ? `Estimated wait: about ${waitWords(st.estimated_wait_seconds)}. This page refreshes on its own.` : "Almost there…";
      return true;
    };
    let stopped = false;
    const controller = new AbortController();
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    void (async () => {
      try {
        const joined = await api.post<QueueState>("/queue/join", { show_id: show.id }, { signal: controller.signal });
        if (!render(joined)) return;
      } catch (e) {
        queueBox.replaceChildren(errorBox(e, () => startQueue(), ctx.signal));
        return;
      }
      poll(
        controller.signal,
        async () => {
          if (stopped) return;
          const st = await api.get<QueueState>("/queue/status", { query: { show_id: show.id }, signal: controller.signal });
          if (!render(st)) {
            stopped = true;
            controller.abort();
            return;
          }
          // Faster near the front; never more than the queue rate class allows.
          return st.estimated_wait_seconds <= 10 ? 1500 : st.estimated_wait_seconds <= 60 ? 3000 : 5000;
        },
        1000,
      );
    })();
  };

  const body = h("section", { class: "stack" }, back, heading, when, queueBox);
  if (!saleOpen(ev)) {
    body.append(h("div", { class: "alert info" }, h("p", null, "Sales have not opened yet."), countdown(new Date(ev.sale_starts_at), ctx.signal, { label: "Sales open in", done: () => navigate(ctx.path, true) })));
  } else if (left <= 0) {
    body.append(
      h("div", { class: "alert info", role: "status" }, h("p", null, `You already have the most tickets allowed for this event (${ev.max_per_user} per person).`)),
      h("p", null, h("a", { href: "/bookings" }, "See your bookings")),
    );
  } else if (!zones.some((z) => z.available > 0)) {
    body.append(empty("Sold out: no tickets are left for this show."));
  } else {
    body.append(form);
    const p = passes.get(show.id);
    if (show.queue.enabled && !(p && p.expires > Date.now())) startQueue();
  }
  return { title, node: body };
}

function waitWords(s: number): string {
  if (s < 60) return `${Math.max(1, Math.round(s))} seconds`;
  const m = Math.round(s / 60);
  return m === 1 ? "1 minute" : `${m} minutes`;
}
