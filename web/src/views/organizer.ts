// Organizer: my events, create / edit an event, add shows and zones, publish, waiting room,
// sales per zone.

import { api, navigate, requireUser, session } from "../app";
import { ApiError } from "../lib/api";
import { field, h, type Field } from "../lib/dom";
import { formatDateTime, formatMoney, localInputToRfc3339, parseMoney, rfc3339ToLocalInput } from "../lib/format";
import { Redirect, type Page, type RouteContext } from "../lib/router";
import type { EventItem, Show, Zone } from "../lib/types";
import { announce, busyForm, clearFormError, empty, errorBox, loading, notice, pageHeading, showFormError } from "../lib/ui";
import { CATEGORIES } from "./events";

function requireOrganizer(ctx: RouteContext): void {
  requireUser(ctx);
  if (!session.hasRole("organizer") && !session.hasRole("admin")) throw new Redirect("/forbidden");
}

// The API lists only published events; drafts this browser created are remembered here so the
// organizer finds them again (a server-side "my events" list would replace this).
const draftsKey = () => `souk.drafts.${session.user?.id ?? ""}`;
function rememberDraft(slug: string): void {
  const list = knownDrafts().filter((s) => s !== slug);
  list.unshift(slug);
  localStorage.setItem(draftsKey(), JSON.stringify(list.slice(0, 50)));
}
function knownDrafts(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(draftsKey()) ?? "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  } catch {
    return [];
  }
}

export async function organizerHomeView(ctx: RouteContext): Promise<Page> {
  requireOrganizer(ctx);
  const me = session.user!.id;
  const published: EventItem[] = [];
  for (let page = 1; page <= 20; page++) {
    const r = await api.list<EventItem>("/events", { query: { page, per_page: 100 }, signal: ctx.signal });
    published.push(...r.data.filter((e) => e.organizer_id === me));
    if (!r.meta || page * r.meta.per_page >= r.meta.total) break;
  }
  const drafts: EventItem[] = [];
  for (const slug of knownDrafts()) {
    if (published.some((e) => e.slug === slug)) continue;
    try {
      const e = await api.get<EventItem>(`/events/${encodeURIComponent(slug)}`, { signal: ctx.signal });
      if (e.status !== "published") drafts.push(e);
    } catch {
      /* deleted or gone */
    }
  }
  const row = (e: EventItem) =>
    h(
      "li",
      { class: "card" },
      h("h3", null, h("a", { href: `/organizer/events/${encodeURIComponent(e.slug)}` }, e.title)),
      h("p", { class: "meta" }, formatDateTime(e.starts_at), " · ", e.venue || "no venue yet"),
      h("p", null, h("span", { class: e.status === "published" ? "badge ok" : "badge warn" }, e.status)),
    );
  const node = h(
    "div",
    { class: "stack" },
    pageHeading("Your events"),
    h("p", null, h("a", { class: "button", href: "/organizer/new" }, "Create an event")),
    h("section", { "aria-labelledby": "h-drafts" }, h("h2", { id: "h-drafts" }, "Drafts"), drafts.length ? h("ul", { class: "cards" }, drafts.map(row)) : empty("No drafts.")),
    h("section", { "aria-labelledby": "h-pub" }, h("h2", { id: "h-pub" }, "Published"), published.length ? h("ul", { class: "cards" }, published.map(row)) : empty("Nothing published yet.")),
  );
  return { title: "Organizer", node };
}

function eventFields(e?: EventItem): Record<string, Field> {
  return {
    title: field({ label: "Title", name: "title", required: true, value: e?.title, maxlength: 200 }),
    description: field({ label: "Description", name: "description", textarea: true, value: e?.description, maxlength: 10000 }),
    category: field({
      label: "Category",
      name: "category",
      value: e?.category ?? "",
      options: [{ value: "", label: "None" }, ...CATEGORIES.map((c) => ({ value: c, label: c }))],
    }),
    venue: field({ label: "Venue", name: "venue", value: e?.venue, maxlength: 200 }),
    starts_at: field({ label: "Starts", name: "starts_at", type: "datetime-local", required: true, value: e ? rfc3339ToLocalInput(e.starts_at) : "", hint: "In your local time." }),
    sale_starts_at: field({ label: "Ticket sales open", name: "sale_starts_at", type: "datetime-local", required: true, value: e ? rfc3339ToLocalInput(e.sale_starts_at) : "", hint: "Must not be after the start." }),
    max_per_user: field({ label: "Tickets per person (limit)", name: "max_per_user", type: "number", required: true, min: 1, max: 100000, value: String(e?.max_per_user ?? 4) }),
  };
}

/** Reads the event form; field errors found locally, or the body to send. */
export function readEventForm(values: Record<string, string>): { body: Record<string, unknown>; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const body: Record<string, unknown> = {
    title: values["title"]?.trim() ?? "",
    description: values["description"] ?? "",
    category: values["category"] ?? "",
    venue: values["venue"]?.trim() ?? "",
  };
  if (!body["title"]) errors["title"] = "Enter a title.";
  for (const k of ["starts_at", "sale_starts_at"]) {
    const t = localInputToRfc3339(values[k] ?? "");
    if (!t) errors[k] = "Enter a date and time.";
    else body[k] = t;
  }
  if (body["starts_at"] && body["sale_starts_at"] && String(body["sale_starts_at"]) > String(body["starts_at"]))
    errors["sale_starts_at"] = "Sales must open before the event starts.";
  const max = Number(values["max_per_user"]);
  if (!Number.isInteger(max) || max < 1 || max > 100000) errors["max_per_user"] = "Enter a whole number from 1 to 100,000.";
  else body["max_per_user"] = max;
  return { body, errors };
}

function valuesOf(fields: Record<string, Field>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, f] of Object.entries(fields)) out[k] = f.input.value;
  return out;
}

function applyLocal(errors: Record<string, string>, fields: Record<string, Field>, alertSlot: HTMLElement): boolean {
  clearFormError(fields, alertSlot);
  const names = Object.keys(errors);
  if (!names.length) return false;
  for (const n of names) fields[n]?.setError(errors[n]!);
  alertSlot.append(h("div", { class: "alert error", role: "alert" }, h("p", null, "Please correct the highlighted fields.")));
  fields[names[0]!]?.input.focus();
  return true;
}

export function newEventView(ctx: RouteContext): Page {
  requireOrganizer(ctx);
  const fields = eventFields();
  const alertSlot = h("div", { class: "form-alert" });
  const f: HTMLFormElement = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const { body, errors } = readEventForm(valuesOf(fields));
        if (applyLocal(errors, fields, alertSlot)) return;
        const undo = busyForm(f);
        try {
          const e = await api.post<EventItem>("/events", body);
          rememberDraft(e.slug);
          announce("Event created as a draft.");
          navigate(`/organizer/events/${encodeURIComponent(e.slug)}`);
        } catch (e) {
          undo();
          showFormError(e, fields, alertSlot, ctx.signal);
        }
      },
    },
    alertSlot,
    Object.values(fields).map((x) => x.wrap),
    h("button", { type: "submit" }, "Create draft"),
  );
  return { title: "New event", node: h("section", { class: "narrow" }, h("p", { class: "crumbs" }, h("a", { href: "/organizer" }, "← Your events")), pageHeading("Create an event"), f) };
}

function zoneSection(ctx: RouteContext, ev: EventItem, show: Show): HTMLElement {
  const list = h("div", null, loading("Loading zones…"));
  const loadZones = async () => {
    try {
      const zones = await api.get<Zone[]>(`/shows/${encodeURIComponent(show.id)}/zones`, { signal: ctx.signal });
      list.replaceChildren(
        zones.length
          ? h(
              "table",
              { class: "zones" },
              h("caption", null, "Zones and sales"),
              h("thead", null, h("tr", null, ["Zone", "Price", "Capacity", "Sold or held", "Available"].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                null,
                zones.map((z) =>
                  h("tr", null, h("th", { scope: "row" }, z.name), h("td", null, formatMoney(z.price)), h("td", null, String(z.capacity)), h("td", null, String(z.capacity - z.available)), h("td", null, String(z.available))),
                ),
              ),
            )
          : empty("No zones yet: add one so people can book."),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e, () => void loadZones(), ctx.signal));
    }
  };
  void loadZones();

  const fields = {
    name: field({ label: "Zone name", name: "name", required: true, maxlength: 100 }),
    price: field({ label: `Price (${ev.currency})`, name: "price", required: true, inputmode: "decimal", value: "0", hint: "0 for free tickets." }),
    capacity: field({ label: "Capacity", name: "capacity", type: "number", required: true, min: 1, max: 10000000, value: "100" }),
  };
  // Ids must be unique per show on one page.
  const alertSlot = h("div", { class: "form-alert" });
  const f: HTMLFormElement = h(
    "form",
    {
      class: "inline-form",
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const errors: Record<string, string> = {};
        const price = parseMoney(fields.price.input.value, ev.currency);
        const capacity = Number(fields.capacity.input.value);
        if (!fields.name.input.value.trim()) errors["name"] = "Enter a name.";
        if (price === null) errors["price"] = "Enter a price like 12.50.";
        if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000_000) errors["capacity"] = "Enter a whole number from 1 to 10,000,000.";
        if (applyLocal(errors, fields, alertSlot)) return;
        const undo = busyForm(f);
        try {
          await api.post(`/shows/${encodeURIComponent(show.id)}/zones`, { name: fields.name.input.value.trim(), price, capacity });
          undo();
          f.reset();
          announce("Zone added.");
          await loadZones();
        } catch (err) {
          undo();
          showFormError(err, fields, alertSlot, ctx.signal);
        }
      },
    },
    h("h4", null, "Add a zone"),
    alertSlot,
    fields.name.wrap,
    fields.price.wrap,
    fields.capacity.wrap,
    h("button", { type: "submit" }, "Add zone"),
  );
  return h("div", null, list, f);
}

function queueControl(ctx: RouteContext, show: Show): HTMLElement {
  const rate = field({ label: "People let in per minute", name: "admit_per_minute", type: "number", min: 1, max: 100000, value: String(show.queue.admit_per_minute || 30) });
  const alertSlot = h("div", { class: "form-alert" });
  const toggle = h("input", { type: "checkbox", id: `queue-${show.id}`, checked: show.queue.enabled }) as HTMLInputElement;
  const f: HTMLFormElement = h(
    "form",
    {
      class: "inline-form",
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const undo = busyForm(f);
        try {
          await api.put(`/shows/${encodeURIComponent(show.id)}/queue`, { enabled: toggle.checked, admit_per_minute: Number(rate.input.value) || 30 });
          show.queue.enabled = toggle.checked;
          alertSlot.replaceChildren(notice(toggle.checked ? "Waiting room on." : "Waiting room off.", "success"));
        } catch (err) {
          showFormError(err, { admit_per_minute: rate }, alertSlot, ctx.signal);
        } finally {
          undo();
        }
      },
    },
    h("h4", null, "Waiting room"),
    alertSlot,
    h("div", { class: "checkbox" }, toggle, h("label", { for: `queue-${show.id}` }, "Use a waiting room for this show")),
    rate.wrap,
    h("button", { type: "submit", class: "secondary" }, "Save waiting room"),
  );
  return f;
}

export async function manageEventView(ctx: RouteContext): Promise<Page> {
  requireOrganizer(ctx);
  const slug = ctx.params["slug"]!;
  let ev = await api.get<EventItem>(`/events/${encodeURIComponent(slug)}`, { signal: ctx.signal });
  if (ev.status !== "published") rememberDraft(ev.slug);
  const heading = pageHeading(`Manage: ${ev.title}`);

  const statusBox = h("div");
  const renderStatus = () => {
    const alertSlot = h("div", { class: "form-alert" });
    statusBox.replaceChildren(
      h("p", null, "Status: ", h("span", { class: ev.status === "published" ? "badge ok" : "badge warn" }, ev.status)),
      alertSlot,
      ev.status === "published"
        ? h("p", null, h("a", { href: `/events/${encodeURIComponent(ev.slug)}` }, "See the public page"))
        : h(
            "p",
            null,
            h(
              "button",
              {
                type: "button",
                onclick: async (e: Event) => {
                  const btn = e.currentTarget as HTMLButtonElement;
                  btn.disabled = true;
                  try {
                    await api.post(`/events/${encodeURIComponent(ev.id)}/publish`, {});
                    ev = await api.get<EventItem>(`/events/${encodeURIComponent(ev.id)}`);
                    announce("Event published.");
                    renderStatus();
                  } catch (err) {
                    btn.disabled = false;
                    alertSlot.replaceChildren(errorBox(err, undefined, ctx.signal));
                  }
                },
              },
              "Publish",
            ),
            " ",
            h("span", { class: "muted" }, "Publishing makes the event visible to everyone."),
          ),
    );
  };
  renderStatus();

  // Edit
  const fields = eventFields(ev);
  const editAlert = h("div", { class: "form-alert" });
  const edit: HTMLFormElement = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const { body, errors } = readEventForm(valuesOf(fields));
        if (applyLocal(errors, fields, editAlert)) return;
        const undo = busyForm(edit);
        try {
          ev = { ...ev, ...(await api.put<EventItem>(`/events/${encodeURIComponent(ev.id)}`, body)) };
          editAlert.append(notice("Saved.", "success"));
          heading.textContent = `Manage: ${ev.title}`;
          announce("Event saved.");
        } catch (err) {
          showFormError(err, fields, editAlert, ctx.signal);
        } finally {
          undo();
        }
      },
    },
    editAlert,
    Object.values(fields).map((x) => x.wrap),
    h("button", { type: "submit" }, "Save changes"),
  );

  // Shows
  const showsBox = h("div", { class: "stack" });
  const renderShows = () => {
    const shows = ev.shows ?? [];
    showsBox.replaceChildren(
      ...(shows.length
        ? shows.map((s) =>
            h(
              "section",
              { class: "card", "aria-labelledby": `h-show-${s.id}` },
              h("h3", { id: `h-show-${s.id}` }, formatDateTime(s.starts_at), " – ", formatDateTime(s.ends_at)),
              zoneSection(ctx, ev, s),
              queueControl(ctx, s),
            ),
          )
        : [empty("No shows yet: add the first date below.")]),
    );
  };
  renderShows();
  const showFields = {
    starts_at: field({ label: "Show starts", name: "starts_at", type: "datetime-local", required: true, value: rfc3339ToLocalInput(ev.starts_at) }),
    ends_at: field({ label: "Show ends", name: "ends_at", type: "datetime-local", required: true, value: rfc3339ToLocalInput(new Date(new Date(ev.starts_at).getTime() + 3 * 3600_000).toISOString()) }),
  };
  const showAlert = h("div", { class: "form-alert" });
  const addShow: HTMLFormElement = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const starts = localInputToRfc3339(showFields.starts_at.input.value);
        const ends = localInputToRfc3339(showFields.ends_at.input.value);
        const errors: Record<string, string> = {};
        if (!starts) errors["starts_at"] = "Enter a date and time.";
        if (!ends) errors["ends_at"] = "Enter a date and time.";
        else if (starts && ends <= starts) errors["ends_at"] = "Must be after the start.";
        if (applyLocal(errors, showFields, showAlert)) return;
        const undo = busyForm(addShow);
        try {
          await api.post(`/events/${encodeURIComponent(ev.id)}/shows`, { starts_at: starts, ends_at: ends });
          ev = await api.get<EventItem>(`/events/${encodeURIComponent(ev.id)}`);
          renderShows();
          announce("Show added.");
        } catch (err) {
          showFormError(err, showFields, showAlert, ctx.signal);
        } finally {
          undo();
        }
      },
    },
    showAlert,
    showFields.starts_at.wrap,
    showFields.ends_at.wrap,
    h("button", { type: "submit" }, "Add show"),
  );

  const node = h(
    "div",
    { class: "stack" },
    h("p", { class: "crumbs" }, h("a", { href: "/organizer" }, "← Your events")),
    heading,
    statusBox,
    h("section", { "aria-labelledby": "h-shows" }, h("h2", { id: "h-shows" }, "Shows, zones and sales"), showsBox, h("h3", null, "Add a show"), addShow),
    h("section", { "aria-labelledby": "h-edit" }, h("h2", { id: "h-edit" }, "Details"), edit),
  );
  return { title: `Manage ${ev.title}`, node };
}

export function forbiddenView(): Page {
  return {
    title: "Not allowed",
    node: h("section", null, pageHeading("You can't open this page"), notice("Your account does not have the role this page needs.", "warning"), h("p", null, h("a", { href: "/" }, "Back to events"))),
  };
}

export { ApiError };
