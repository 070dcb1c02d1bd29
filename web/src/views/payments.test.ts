// The payment pages against a fake API (fetch stubbed): checkout, the return page, the balance
// page's payout form, the admin's payout decisions.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { session } from "../app";
import type { RouteContext } from "../lib/router";
import type { Booking, User } from "../lib/types";
import { browser, checkoutReturnView, checkoutView } from "./checkout";
import { adminPayoutsView, balanceView } from "./payouts";

// jsdom's FileReader takes only its own Blobs (fetch's are Node's), and it has no object URLs.
vi.mock("../lib/dom", async (orig) => ({
  ...(await orig<typeof import("../lib/dom")>()),
  blobToDataUrl: async (b: Blob) => `data:${b.type};base64,${btoa(String.fromCharCode(...new Uint8Array(await b.arrayBuffer())))}`,
}));

type Handler = (init: RequestInit & { url: string }) => { status?: number; body?: unknown; headers?: Record<string, string>; raw?: string } | undefined;

let routes: Array<[string, string, Handler]> = [];
let calls: Array<{ method: string; url: string; body: unknown; headers: Record<string, string> }> = [];

function on(method: string, path: string, handler: Handler | object) {
  routes.unshift([method, path, typeof handler === "function" ? (handler as Handler) : () => ({ body: { success: true, data: handler } })]);
}
const ok = (data: unknown, meta?: unknown) => ({ body: { success: true, data, ...(meta ? { meta } : {}) } });
const fail = (status: number, code: string, details: object = {}, headers: Record<string, string> = {}) => ({
  status,
  headers,
  body: { success: false, error: { code, message: code.toLowerCase(), details }, request_id: "req-x" },
});

async function fakeFetch(input: string, init: RequestInit = {}): Promise<Response> {
  const url = new URL(input, "http://souk.test");
  const method = init.method ?? "GET";
  const headers = (init.headers ?? {}) as Record<string, string>;
  calls.push({ method, url: url.pathname + url.search, body: init.body ? JSON.parse(String(init.body)) : undefined, headers });
  for (const [m, p, handler] of routes) {
    if (m === method && p === url.pathname) {
      const r = handler({ ...init, url: url.pathname + url.search });
      if (!r) continue;
      if (r.raw !== undefined) return new Response(r.raw, { status: r.status ?? 200, headers: r.headers });
      return new Response(JSON.stringify(r.body), { status: r.status ?? 200, headers: { "Content-Type": "application/json", ...(r.headers ?? {}) } });
    }
  }
  return new Response(JSON.stringify({ success: false, error: { code: "NOT_FOUND", message: "no route" } }), { status: 404 });
}

function user(roles: User["roles"]): User {
  return { id: "usr_1", email: "u@souk.test", display_name: "U", roles, email_verified: true, created_at: "2026-01-01T00:00:00Z" };
}

function ctxFor(path: string, params: Record<string, string> = {}): { ctx: RouteContext; ac: AbortController } {
  const url = new URL(path, "http://souk.test");
  const ac = new AbortController();
  return { ctx: { path: url.pathname, params, query: url.searchParams, signal: ac.signal }, ac };
}

const usd = (amount: number) => ({ amount, currency: "USD" });
const future = () => new Date(Date.now() + 9 * 60_000).toISOString();
function booking(status: Booking["status"], extra: Partial<Booking> = {}): Booking {
  return { id: "bkg_1", status, event_id: "evt_1", show_id: "shw_1", zone_id: "zon_1", quantity: 2, amount: usd(3000), expires_at: future(), created_at: "2026-06-01T12:00:00Z", ...extra };
}
function payment(status: string) {
  return { id: "pay_1", status, booking_id: "bkg_1", amount: usd(3000), refunded: usd(0), checkout_url: "http://souk.test/psp/checkout/pi_1", created_at: "2026-06-01T12:00:00Z" };
}

function mount(node: Node) {
  document.body.replaceChildren(node);
  return document.body;
}
const text = () => document.body.textContent ?? "";
const byText = (sel: string, t: string | RegExp) =>
  Array.from(document.body.querySelectorAll<HTMLElement>(sel)).find((e) => (typeof t === "string" ? e.textContent?.includes(t) : t.test(e.textContent ?? "")));

beforeEach(() => {
  routes = [];
  calls = [];
  vi.stubGlobal("fetch", fakeFetch);
  URL.createObjectURL ??= () => "blob:http://souk.test/x";
  URL.revokeObjectURL ??= () => {};
  on("GET", "/api/v1/events/evt_1", { id: "evt_1", slug: "the-rushes-live", title: "The Rushes — Live", venue: "Hall", starts_at: "2031-01-01T20:00:00Z", shows: [{ id: "shw_1", event_id: "evt_1", starts_at: "2031-01-01T20:00:00Z", ends_at: "2031-01-01T23:00:00Z", queue: { enabled: false, admit_per_minute: 0 } }] });
  on("GET", "/api/v1/shows/shw_1/zones", [{ id: "zon_1", show_id: "shw_1", name: "Seats", price: usd(1500), capacity: 10, available: 5 }]);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  session.clear();
  document.body.replaceChildren();
});

describe("checkout", () => {
  beforeEach(() => session.set({ access_token: "t", refresh_token: "", token_type: "Bearer", expires_in: 900, user: user(["member"]) }));

  it("shows the order and the hold, pays with one key per attempt and its retry", async () => {
    on("GET", "/api/v1/bookings/bkg_1", booking("reserved"));
    let n = 0;
    on("POST", "/api/v1/payments", () => (++n === 1 ? fail(503, "UNAVAILABLE", {}, { "Retry-After": "0" }) : { status: 201, ...ok(payment("pending")) }));
    const assign = vi.spyOn(browser, "assign").mockImplementation(() => {});
    const { ctx, ac } = ctxFor("/checkout/bkg_1", { id: "bkg_1" });
    const page = await checkoutView(ctx);
    mount(page.node);
    expect(text()).toContain("Your order");
    expect(text()).toContain("The Rushes — Live");
    expect(text()).toContain("Your hold ends in");
    const pay = byText("button", /^Pay \$30\.00$/)!;
    expect(pay).toBeTruthy();
    pay.click();
    await vi.waitFor(() => expect(byText("button", "Try again")).toBeTruthy());
    expect(text()).toContain("Souk is busy right now");
    byText("button", "Try again")!.click();
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("http://souk.test/psp/checkout/pi_1"));
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(2);
    expect(posts[0]!.headers["Idempotency-Key"]).toBeTruthy();
    expect(posts[1]!.headers["Idempotency-Key"]).toBe(posts[0]!.headers["Idempotency-Key"]);
    expect(posts[0]!.body).toEqual({ booking_id: "bkg_1", return_path: "/checkout/return" });
    ac.abort();
  });

  it("a new press is a new attempt with a new key", async () => {
    on("GET", "/api/v1/bookings/bkg_1", booking("reserved"));
    on("POST", "/api/v1/payments", () => fail(422, "IDEMPOTENCY_KEY_REUSED"));
    const { ctx, ac } = ctxFor("/checkout/bkg_1", { id: "bkg_1" });
    mount((await checkoutView(ctx)).node);
    byText("button", /^Pay /)!.click();
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(1));
    await vi.waitFor(() => expect((byText("button", /^Pay /) as HTMLButtonElement).disabled).toBe(false));
    byText("button", /^Pay /)!.click();
    await vi.waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(2));
    const [a, b] = calls.filter((c) => c.method === "POST");
    expect(a!.headers["Idempotency-Key"]).not.toBe(b!.headers["Idempotency-Key"]);
    ac.abort();
  });

  it("a hold that has run out goes back to the event", async () => {
    on("GET", "/api/v1/bookings/bkg_1", booking("reserved", { expires_at: new Date(Date.now() - 1000).toISOString() }));
    const { ctx } = ctxFor("/checkout/bkg_1", { id: "bkg_1" });
    await expect(checkoutView(ctx)).rejects.toMatchObject({ to: "/events/the-rushes-live" });
  });

  it("a free or confirmed booking has nothing to pay", async () => {
    on("GET", "/api/v1/bookings/bkg_1", booking("confirmed"));
    const { ctx } = ctxFor("/checkout/bkg_1", { id: "bkg_1" });
    await expect(checkoutView(ctx)).rejects.toMatchObject({ to: "/bookings/bkg_1" });
  });
});

describe("the return page", () => {
  beforeEach(() => session.set({ access_token: "t", refresh_token: "", token_type: "Bearer", expires_in: 900, user: user(["member"]) }));

  it("waits for the payment, then shows the confirmation and the ticket", async () => {
    const answers = [
      [payment("pending"), booking("reserved")],
      [payment("succeeded"), booking("confirmed")],
    ];
    let i = 0;
    on("GET", "/api/v1/payments/pay_1", () => ok(answers[Math.min(i, 1)]![0]));
    on("GET", "/api/v1/bookings/bkg_1", () => ok(answers[Math.min(i++, 1)]![1]));
    on("GET", "/api/v1/bookings/bkg_1/ticket", () => ({ raw: '<svg xmlns="http://www.w3.org/2000/svg"/>', headers: { "Content-Type": "image/svg+xml" } }));
    const { ctx, ac } = ctxFor("/checkout/return?payment_id=pay_1&booking_id=bkg_1&result=succeeded");
    mount((await checkoutReturnView(ctx)).node);
    expect(document.querySelector("h1")!.textContent).toBe("Checking your payment");
    await vi.waitFor(() => expect(document.querySelector("h1")!.textContent).toBe("Booking confirmed"), { timeout: 4000 });
    expect(text()).toContain("Payment of $30.00 received");
    await vi.waitFor(() => expect(document.querySelector("img.ticket-qr"), text()).toBeTruthy());
    expect(document.querySelector("img.ticket-qr")!.getAttribute("src")).toMatch(/^data:image\/svg\+xml/);
    expect(byText("a", "Add to calendar (.ics)")!.getAttribute("download")).toBe("the-rushes-live.ics");
    expect(byText("a", "Download ticket (SVG)")).toBeTruthy();
    ac.abort();
  });

  it("says the card was declined and the seats released", async () => {
    on("GET", "/api/v1/payments/pay_1", payment("failed"));
    on("GET", "/api/v1/bookings/bkg_1", booking("cancelled"));
    const { ctx, ac } = ctxFor("/checkout/return?payment_id=pay_1&booking_id=bkg_1&result=failed");
    mount((await checkoutReturnView(ctx)).node);
    await vi.waitFor(() => expect(document.querySelector("h1")!.textContent).toBe("Payment declined"));
    expect(text()).toContain("Your card was declined");
    expect(text()).toContain("Your seats were released");
    expect(byText("a", "Book again")!.getAttribute("href")).toBe("/events/the-rushes-live");
    ac.abort();
  });

  it("a payment after the hold expired is refunded automatically", async () => {
    on("GET", "/api/v1/payments/pay_1", payment("refunded"));
    on("GET", "/api/v1/bookings/bkg_1", booking("expired"));
    const { ctx, ac } = ctxFor("/checkout/return?payment_id=pay_1&booking_id=bkg_1&result=succeeded");
    mount((await checkoutReturnView(ctx)).node);
    await vi.waitFor(() => expect(document.querySelector("h1")!.textContent).toBe("Your hold expired"));
    expect(text()).toContain("refunded automatically");
    ac.abort();
  });

  it("back from 'cancel' on the payment page: offers the checkout again", async () => {
    on("GET", "/api/v1/payments/pay_1", payment("pending"));
    on("GET", "/api/v1/bookings/bkg_1", booking("reserved"));
    const { ctx, ac } = ctxFor("/checkout/return?payment_id=pay_1&booking_id=bkg_1&result=cancelled");
    mount((await checkoutReturnView(ctx)).node);
    await vi.waitFor(() => expect(byText("a", "Back to checkout")).toBeTruthy());
    expect(byText("a", "Back to checkout")!.getAttribute("href")).toBe("/checkout/bkg_1");
    ac.abort();
  });

  it("without the ids, points to My bookings", async () => {
    const { ctx } = ctxFor("/checkout/return");
    mount((await checkoutReturnView(ctx)).node);
    expect(text()).toContain("missing the details");
  });
});

describe("balance and payouts", () => {
  beforeEach(() => session.set({ access_token: "t", refresh_token: "", token_type: "Bearer", expires_in: 900, user: user(["member", "organizer"]) }));

  it("checks the amount, sends it with a key, and puts the server's field error next to it", async () => {
    on("GET", "/api/v1/balance", [{ currency: "USD", pending: usd(1000), available: usd(2500), payouts_pending: usd(0) }]);
    on("GET", "/api/v1/payouts", () => ok([], { page: 1, per_page: 50, total: 0 }));
    on("GET", "/api/v1/ledger/entries", () =>
      ok([{ id: "le_1", transfer_id: "tr_1", kind: "sale", account: "available", amount: usd(2500), reference: "bkg_9", created_at: "2026-06-01T12:00:00Z" }], { page: 1, per_page: 20, total: 1 }),
    );
    on("POST", "/api/v1/payouts", () => fail(422, "VALIDATION_FAILED", { fields: { amount: "exceeds the available balance" } }));
    const { ctx, ac } = ctxFor("/balance");
    mount((await balanceView(ctx)).node);
    expect(text()).toContain("$25.00");
    expect(text()).toContain("+$25.00");
    const amount = document.querySelector<HTMLInputElement>("input[name=amount]")!;
    const submit = byText("button", "Request payout")!;
    amount.value = "30";
    submit.click();
    expect(text()).toContain("more than your available balance ($25.00)");
    expect(amount.getAttribute("aria-invalid")).toBe("true");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
    amount.value = "10";
    submit.click();
    await vi.waitFor(() => expect(text()).toContain("Exceeds the available balance."));
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.body).toEqual({ amount: { amount: 1000, currency: "USD" } });
    expect(post.headers["Idempotency-Key"]).toBeTruthy();
    expect(amount.getAttribute("aria-invalid")).toBe("true");
    ac.abort();
  });

  it("an empty balance says so", async () => {
    on("GET", "/api/v1/balance", []);
    on("GET", "/api/v1/payouts", () => ok([], { page: 1, per_page: 50, total: 0 }));
    on("GET", "/api/v1/ledger/entries", () => ok([], { page: 1, per_page: 20, total: 0 }));
    const { ctx } = ctxFor("/balance");
    mount((await balanceView(ctx)).node);
    expect(text()).toContain("No sales yet.");
    expect(text()).toContain("Nothing available to pay out yet.");
    expect(document.querySelector("input[name=amount]")).toBeNull();
  });

  it("a member without a seller role is sent away", async () => {
    session.set({ access_token: "t", refresh_token: "", token_type: "Bearer", expires_in: 900, user: user(["member"]) });
    const { ctx } = ctxFor("/balance");
    await expect(balanceView(ctx)).rejects.toMatchObject({ to: "/forbidden" });
  });
});

describe("admin payouts", () => {
  beforeEach(() => session.set({ access_token: "t", refresh_token: "", token_type: "Bearer", expires_in: 900, user: user(["member", "admin"]) }));
  const po = { id: "po_1", user_id: "usr_9", user_email: "org@souk.test", status: "pending_approval", amount: usd(1000), created_at: "2026-06-01T12:00:00Z", decided_at: null, decided_by: null, reason: null };

  it("deny needs a reason; approve shows the result", async () => {
    on("GET", "/api/v1/admin/payouts", () => ok([{ ...po }], { page: 1, per_page: 20, total: 1 }));
    on("POST", "/api/v1/admin/payouts/po_1/approve", () => ok({ ...po, status: "in_transit", decided_at: "2026-06-02T09:00:00Z" }));
    const { ctx } = ctxFor("/admin/payouts");
    mount((await adminPayoutsView(ctx)).node);
    expect(calls[0]!.url).toBe("/api/v1/admin/payouts?status=pending_approval&page=1&per_page=20");
    expect(text()).toContain("$10.00 to org@souk.test");
    byText("button", "Deny")!.click();
    expect(text()).toContain("Enter a reason for denying");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
    byText("button", "Approve")!.click();
    await vi.waitFor(() => expect(text()).toContain("Approved: $10.00 to org@souk.test is on its way."));
    expect(byText("button", "Approve")).toBeUndefined();
    expect(text()).toContain("Approved — on its way");
  });

  it("deny sends the reason", async () => {
    on("GET", "/api/v1/admin/payouts", () => ok([{ ...po }], { page: 1, per_page: 20, total: 1 }));
    on("POST", "/api/v1/admin/payouts/po_1/deny", () => ok({ ...po, status: "denied", reason: "bank details missing" }));
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const { ctx } = ctxFor("/admin/payouts");
    mount((await adminPayoutsView(ctx)).node);
    document.querySelector<HTMLTextAreaElement>("[name=reason]")!.value = "bank details missing";
    byText("button", "Deny")!.click();
    await vi.waitFor(() => expect(text()).toContain("Denied: $10.00 went back"));
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({ reason: "bank details missing" });
  });

  it("nothing waiting: an empty state", async () => {
    on("GET", "/api/v1/admin/payouts", () => ok([], { page: 1, per_page: 20, total: 0 }));
    const { ctx } = ctxFor("/admin/payouts");
    mount((await adminPayoutsView(ctx)).node);
    expect(text()).toContain("No payouts awaiting approval.");
  });
});
