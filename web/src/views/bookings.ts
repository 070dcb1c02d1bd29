// A booking (hold countdown, confirm, cancel, e-ticket QR, download, calendar) and My bookings.
// Paid holds are paid on the checkout page (views/checkout.ts).

import { api, requireUser } from "../app";
import { ApiError } from "../lib/api";
import { blobToDataUrl, downloadLink, h } from "../lib/dom";
import { formatDateTime, formatMoney } from "../lib/format";
import { buildIcs, icsFileName } from "../lib/ics";
import { Redirect, type Page, type RouteContext } from "../lib/router";
import type { Booking, EventItem, Show, Zone } from "../lib/types";
import { announce, countdown, empty, errorBox, loading, notice, pageHeading, pagination } from "../lib/ui";
import { payButton } from "./checkout";

const STATUS_LABEL: Record<string, string> = {
  reserved: "Held — not confirmed yet",
  confirmed: "Confirmed",
  cancelled: "Cancelled",
  expired: "Expired",
  refunded: "Refunded",
};

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `badge status-${status}` }, STATUS_LABEL[status] ?? status);
}

export interface Context {
  event: EventItem | null;
  show: Show | null;
  zone: Zone | null;
}

const eventCache = new Map<string, Promise<EventItem | null>>();
export function eventById(id: string): Promise<EventItem | null> {
  let p = eventCache.get(id);
  if (!p) {
    p = api.get<EventItem>(`/events/${encodeURIComponent(id)}`).catch(() => null);
    eventCache.set(id, p);
    // Failures are not cached for long.
    void p.then((e) => {
      if (!e) eventCache.delete(id);
    });
  }
  return p;
}

export async function contextOf(b: Booking): Promise<Context> {
  const [event, zones] = await Promise.all([
    eventById(b.event_id),
    api.get<Zone[]>(`/shows/${encodeURIComponent(b.show_id)}/zones`).catch(() => [] as Zone[]),
  ]);
  return {
    event,
    show: event?.shows?.find((s) => s.id === b.show_id) ?? null,
    zone: zones.find((z) => z.id === b.zone_id) ?? null,
  };
}

export function summary(b: Booking, c: Context): HTMLElement {
  return h(
    "dl",
    { class: "facts summary" },
    h("dt", null, "Event"),
    h("dd", null, c.event ? h("a", { href: `/events/${encodeURIComponent(c.event.slug)}` }, c.event.title) : "—"),
    h("dt", null, "Date"),
    h("dd", null, c.show ? formatDateTime(c.show.starts_at) : c.event ? formatDateTime(c.event.starts_at) : "—"),
    h("dt", null, "Venue"),
    h("dd", null, c.event?.venue || "—"),
    h("dt", null, "Zone"),
    h("dd", null, c.zone?.name ?? "—"),
    h("dt", null, "Tickets"),
    h("dd", null, String(b.quantity)),
    h("dt", null, "Total"),
    h("dd", null, formatMoney(b.amount)),
    h("dt", null, "Status"),
    h("dd", null, statusBadge(b.status)),
  );
}

/** The e-ticket of a confirmed booking: the QR code, a download of it, and "add to calendar". */
export function ticketSection(b: Booking, c: Context, signal: AbortSignal): HTMLElement {
  const box = h("section", { class: "ticket card", "aria-labelledby": "h-ticket" }, h("h2", { id: "h-ticket" }, "Your e-ticket"), loading("Loading your ticket…"));
  const load = async () => {
    box.replaceChildren(h("h2", { id: "h-ticket" }, "Your e-ticket"), loading("Loading your ticket…"));
    try {
      // The SVG itself, shown through an <img> with a data: URL: never inserted as markup.
      const res = await api.raw("GET", `/bookings/${encodeURIComponent(b.id)}/ticket`, { headers: { Accept: "image/svg+xml" }, signal });
      const svg = await res.blob();
      const typed = svg.type === "image/svg+xml" ? svg : new Blob([svg], { type: "image/svg+xml" });
      const dataUrl = await blobToDataUrl(typed);
      const title = c.event?.title ?? "Event";
      const start = new Date(c.show?.starts_at ?? c.event?.starts_at ?? b.created_at);
      const end = c.show?.ends_at ? new Date(c.show.ends_at) : new Date(start.getTime() + 2 * 3600_000);
      const ics = buildIcs({
        uid: `${b.id}@souk`,
        title,
        start,
        end,
        location: c.event?.venue,
        description: `${b.quantity} × ${c.zone?.name ?? "ticket"}. Booking ${b.id}.`,
        url: `${location.origin}/bookings/${b.id}`,
      });
      box.replaceChildren(
        h("h2", { id: "h-ticket" }, "Your e-ticket"),
        h("img", { class: "ticket-qr", src: dataUrl, alt: `QR code of your ticket for ${title}, ${b.quantity} × ${c.zone?.name ?? "ticket"}`, width: 240, height: 240 }),
        h("p", null, "Show this code at the door. It works once."),
        h(
          "p",
          { class: "actions" },
          downloadLink("Download ticket (SVG)", `souk-ticket-${b.id}.svg`, typed, signal, "button"),
          downloadLink("Add to calendar (.ics)", icsFileName(title), new Blob([ics], { type: "text/calendar" }), signal),
        ),
      );
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      box.replaceChildren(h("h2", { id: "h-ticket" }, "Your e-ticket"), errorBox(e, () => void load(), signal));
    }
  };
  void load();
  return box;
}

export async function bookingView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  const id = ctx.params["id"]!;
  let b = await api.get<Booking>(`/bookings/${encodeURIComponent(id)}`, { signal: ctx.signal });
  if (b.status === "reserved" && b.amount.amount > 0 && Date.parse(b.expires_at) > Date.now())
    throw new Redirect(`/checkout/${encodeURIComponent(b.id)}`);
  const c = await contextOf(b);
  const content = h("div", { class: "stack" });
  const heading = pageHeading(c.event ? `Your booking: ${c.event.title}` : "Your booking");
  const root = h("section", { class: "stack booking" }, h("p", { class: "crumbs" }, h("a", { href: "/bookings" }, "← My bookings")), heading, content);

  const render = () => {
    // A hold past its time is shown as expired even before the server's timer has run (and a
    // countdown at zero must not ask again and again).
    const lapsed = b.status === "reserved" && Date.parse(b.expires_at) <= Date.now();
    content.replaceChildren(summary(lapsed ? { ...b, status: "expired" } : b, c));
    if (lapsed) {
      content.append(
        h("div", { class: "alert warning", role: "alert" }, h("p", null, "Your hold expired and the tickets went back on sale."), c.event ? h("p", null, h("a", { href: `/events/${encodeURIComponent(c.event.slug)}` }, "Book again")) : null),
      );
    } else if (b.status === "reserved") renderHeld();
    else if (b.status === "confirmed") content.append(ticketSection(b, c, ctx.signal));
    else if (b.status === "expired") {
      content.append(
        h("div", { class: "alert warning", role: "alert" }, h("p", null, "Your hold expired and the tickets went back on sale."), c.event ? h("p", null, h("a", { href: `/events/${encodeURIComponent(c.event.slug)}` }, "Book again")) : null),
      );
    } else if (b.status === "cancelled") {
      content.append(notice("This booking was cancelled.", "info"));
    } else if (b.status === "refunded") {
      content.append(notice("This booking was refunded: the money goes back to the card you paid with.", "info"));
    }
  };

  const refresh = async () => {
    b = await api.get<Booking>(`/bookings/${encodeURIComponent(id)}`);
    render();
  };

  const renderHeld = () => {
    const alertSlot = h("div", { class: "form-alert" });
    const expired = async () => {
      try {
        await refresh();
      } catch {
        b = { ...b, status: "expired" };
        render();
      }
      announce("Your hold expired.");
    };
    const free = b.amount.amount === 0;
    const confirmBtn = h(
      "button",
      {
        type: "button",
        onclick: async () => {
          confirmBtn.disabled = true;
          confirmBtn.textContent = "Confirming…";
          try {
            b = await api.post<Booking>(`/bookings/${encodeURIComponent(b.id)}/confirm`, {});
            announce("Booking confirmed. Your ticket is ready.");
            render();
            heading.focus();
          } catch (e) {
            confirmBtn.disabled = false;
            confirmBtn.textContent = "Confirm";
            if (e instanceof ApiError && (e.code === "RESERVATION_EXPIRED" || e.status === 410)) return void expired();
            alertSlot.replaceChildren(errorBox(e, () => confirmBtn.click(), ctx.signal));
          }
        },
      },
      "Confirm",
    );
    const cancelBtn = h(
      "button",
      {
        type: "button",
        class: "secondary",
        onclick: async () => {
          if (!window.confirm("Cancel this booking? The tickets go back on sale.")) return;
          cancelBtn.disabled = true;
          try {
            b = await api.post<Booking>(`/bookings/${encodeURIComponent(b.id)}/cancel`, {});
            announce("Booking cancelled.");
            render();
          } catch (e) {
            cancelBtn.disabled = false;
            alertSlot.replaceChildren(errorBox(e, undefined, ctx.signal));
          }
        },
      },
      "Cancel booking",
    );
    content.append(
      h(
        "div",
        { class: "alert info hold" },
        countdown(new Date(b.expires_at), ctx.signal, { label: "Your hold ends in", done: () => void expired(), className: "big" }),
        h("p", null, free ? "Confirm before the hold ends to get your tickets." : "Pay before the hold ends to get your tickets."),
      ),
      alertSlot,
      free
        ? h("p", { class: "actions" }, confirmBtn, cancelBtn)
        : h("p", { class: "actions" }, h("a", { class: "button", href: `/checkout/${encodeURIComponent(b.id)}` }, "Go to payment"), cancelBtn),
    );
  };

  render();
  return { title: "Your booking", node: root };
}

async function bookingRow(b: Booking): Promise<HTMLElement> {
  const ev = await eventById(b.event_id);
  const show = ev?.shows?.find((s) => s.id === b.show_id);
  return h(
    "li",
    { class: "card booking-row" },
    h("h3", { id: `bk-${b.id}` }, h("a", { href: `/bookings/${encodeURIComponent(b.id)}` }, ev?.title ?? "Booking")),
    h("p", { class: "meta" }, show ? formatDateTime(show.starts_at) : "", show ? " · " : "", `${b.quantity} ticket${b.quantity === 1 ? "" : "s"} · ${formatMoney(b.amount)}`),
    h("p", null, statusBadge(b.status)),
    b.status === "reserved" ? h("p", { class: "muted" }, `Hold ends ${formatDateTime(b.expires_at)}`) : null,
  );
}

export async function myBookingsView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  const page = Math.max(1, Number(ctx.query.get("page") ?? "1") || 1);
  const [pending, history] = await Promise.all([
    api.list<Booking>("/bookings/pending", { query: { per_page: 100 }, signal: ctx.signal }),
    api.list<Booking>("/bookings", { query: { page, per_page: 20 }, signal: ctx.signal }),
  ]);
  const pendingRows = await Promise.all(pending.data.map(bookingRow));
  const historyRows = await Promise.all(history.data.filter((b) => b.status !== "reserved").map(bookingRow));
  const node = h(
    "div",
    { class: "stack" },
    pageHeading("My bookings"),
    h(
      "section",
      { "aria-labelledby": "h-pending" },
      h("h2", { id: "h-pending" }, "Waiting for you"),
      pendingRows.length
        ? h("ul", { class: "cards" }, pendingRows.map((r, i) => {
            const b = pending.data[i]!;
            if (b.amount.amount === 0) {
              r.append(h("p", null, h("a", { class: "button", href: `/bookings/${encodeURIComponent(b.id)}` }, "Resume: confirm")));
            } else {
              // POST /payments again answers with the pending payment's checkout page.
              const alertSlot = h("div", { class: "form-alert" });
              r.append(alertSlot, h("p", null, payButton(b, { label: "Resume payment", alertSlot, signal: ctx.signal, describedBy: `bk-${b.id}` })));
            }
            return r;
          }))
        : empty("Nothing on hold."),
    ),
    h(
      "section",
      { "aria-labelledby": "h-history" },
      h("h2", { id: "h-history" }, "History"),
      historyRows.length ? h("ul", { class: "cards" }, historyRows) : empty("No bookings yet.", h("a", { href: "/" }, "Find an event")),
      pagination(page, history.meta?.per_page ?? 20, history.meta?.total ?? 0, (p) => `/bookings?page=${p}`) ?? "",
    ),
  );
  return { title: "My bookings", node };
}
