// Checkout: the order summary of a paid hold with its countdown and "Pay" (to the payment
// provider's hosted page), and the return from that page, which waits for the payment's result
// and shows the ticket, or says clearly what happened.

import { api, navigate, requireUser, session } from "../app";
import { ApiError, newIdempotencyKey } from "../lib/api";
import { every, h } from "../lib/dom";
import { formatMoney } from "../lib/format";
import {
  AttemptKey,
  RETURN_PATH,
  formatAmount,
  holdUrgent,
  parseReturnHint,
  pollOutcome,
  safeCheckoutUrl,
  type Outcome,
  type Payment,
  type PollState,
  type ReturnHint,
} from "../lib/payments";
import { Redirect, type Page, type RouteContext } from "../lib/router";
import type { Booking } from "../lib/types";
import { announce, countdown, errorBox, flash, notice, pageHeading } from "../lib/ui";
import { contextOf, summary, ticketSection, type Context } from "./bookings";

const HOLD_EXPIRED = "Your hold expired before the payment was made, and the tickets went back on sale. Choose your tickets again.";

/** Leaving for the payment page (a seam for the tests: jsdom does not navigate). */
export const browser = {
  assign(url: string): void {
    window.location.assign(url);
  },
};

/** POST /payments: a new payment for a held booking, or the pending one it already has. */
export function startPayment(bookingId: string, key: string, signal?: AbortSignal): Promise<Payment> {
  return api.post<Payment>(
    "/payments",
    { booking_id: bookingId, return_path: RETURN_PATH },
    { headers: { "Idempotency-Key": key }, signal },
  );
}

/** Errors after which paying this booking makes no sense any more. */
function bookingGone(e: unknown): e is ApiError {
  return e instanceof ApiError && (e.code === "RESERVATION_EXPIRED" || e.status === 410 || e.code === "INVALID_STATE" || e.code === "NOT_FOUND");
}

/**
 * "Pay" / "Resume payment": starts (or resumes) the payment and sends the browser to the payment
 * page. One Idempotency-Key per press; "Try again" after an error repeats that attempt's key.
 */
export function payButton(
  b: Booking,
  opts: {
    label: string;
    alertSlot: HTMLElement;
    signal: AbortSignal;
    describedBy?: string | null;
    /** the booking can't be paid any more (expired, no longer held, gone); default: say so */
    onGone?: (e: ApiError) => void;
  },
): HTMLButtonElement {
  const keys = new AttemptKey(newIdempotencyKey);
  const btn = h("button", { type: "button", class: "pay", "aria-describedby": opts.describedBy ?? null }, opts.label);
  const reset = () => {
    btn.disabled = false;
    btn.textContent = opts.label;
    btn.removeAttribute("aria-busy");
  };
  const attempt = async (key: string) => {
    btn.disabled = true;
    btn.setAttribute("aria-busy", "true");
    btn.textContent = "Opening the payment page…";
    opts.alertSlot.replaceChildren();
    try {
      const p = await startPayment(b.id, key, opts.signal);
      keys.done();
      const url = safeCheckoutUrl(p.checkout_url, location.origin);
      if (!url) throw new ApiError(502, "BAD_RESPONSE", "no checkout page in the answer");
      announce("Opening the secure payment page.");
      browser.assign(url);
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      reset();
      if (bookingGone(e) && opts.onGone) {
        keys.done();
        opts.onGone(e);
        return;
      }
      // Without an answer (network, 5xx, 429) the same attempt is retried with the same key.
      if (!(e instanceof ApiError) || !e.retryable) keys.done();
      const box = errorBox(e, () => void attempt(keys.retry()), opts.signal);
      box.tabIndex = -1;
      opts.alertSlot.replaceChildren(box);
      box.focus();
    }
  };
  btn.addEventListener("click", () => void attempt(keys.fresh()));
  // Back from the payment page through the back/forward cache: the button works again.
  window.addEventListener(
    "pageshow",
    (ev) => {
      if ((ev as PageTransitionEvent).persisted) reset();
    },
    { signal: opts.signal },
  );
  return btn;
}

function eventHref(c: Context): string {
  return c.event ? `/events/${encodeURIComponent(c.event.slug)}` : "/";
}

/** The checkout page of a paid hold: /checkout/{booking id}. */
export async function checkoutView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  const id = ctx.params["id"]!;
  const b = await api.get<Booking>(`/bookings/${encodeURIComponent(id)}`, { signal: ctx.signal });
  // Nothing to pay here: free tickets, or no longer held (the booking page says why).
  if (b.status !== "reserved" || b.amount.amount === 0) throw new Redirect(`/bookings/${encodeURIComponent(b.id)}`);
  const c = await contextOf(b);

  const backToEvent = (text: string) => {
    flash(text, "warning");
    navigate(eventHref(c), true);
  };
  if (Date.parse(b.expires_at) <= Date.now()) {
    // Expired before the page could open: straight back to the event (the router renders it).
    flash(HOLD_EXPIRED, "warning");
    throw new Redirect(eventHref(c));
  }

  let leaving = false;
  const expired = async () => {
    if (leaving) return;
    leaving = true;
    // A payment may have landed at the last second: then the booking is (being) confirmed.
    try {
      const fresh = await api.get<Booking>(`/bookings/${encodeURIComponent(b.id)}`);
      if (fresh.status === "confirmed") return navigate(`/bookings/${encodeURIComponent(b.id)}`, true);
    } catch {
      /* go back anyway */
    }
    backToEvent(HOLD_EXPIRED);
  };

  const alertSlot = h("div", { class: "form-alert" });
  const pay = payButton(b, {
    label: `Pay ${formatMoney(b.amount)}`,
    alertSlot,
    signal: ctx.signal,
    describedBy: "pay-note",
    onGone: async (e) => {
      if (e.code === "RESERVATION_EXPIRED" || e.status === 410) return void expired();
      // Not held any more: see what it is now.
      try {
        const fresh = await api.get<Booking>(`/bookings/${encodeURIComponent(b.id)}`);
        if (fresh.status === "expired") return void expired();
        if (fresh.status !== "reserved") return navigate(`/bookings/${encodeURIComponent(b.id)}`, true);
        if (e.code === "INVALID_STATE") {
          // Held and "paid already": the payment went through, the confirmation is on its way.
          alertSlot.replaceChildren(notice("Your payment was received and your booking is being confirmed. Reload this page in a moment to get your ticket.", "info"));
          return;
        }
      } catch {
        /* show the error below */
      }
      alertSlot.replaceChildren(errorBox(e, undefined, ctx.signal));
    },
  });

  const cancelBtn = h(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: async () => {
        if (!window.confirm("Cancel this booking? The tickets go back on sale.")) return;
        cancelBtn.disabled = true;
        try {
          await api.post<Booking>(`/bookings/${encodeURIComponent(b.id)}/cancel`, {});
          leaving = true;
          announce("Booking cancelled. The tickets went back on sale.");
          navigate(`/bookings/${encodeURIComponent(b.id)}`, true);
        } catch (e) {
          cancelBtn.disabled = false;
          alertSlot.replaceChildren(errorBox(e, undefined, ctx.signal));
        }
      },
    },
    "Cancel booking",
  );

  const hold = h(
    "div",
    { class: "alert info hold" },
    countdown(new Date(b.expires_at), ctx.signal, { label: "Your hold ends in", done: () => void expired(), className: "big" }),
    h("p", null, "Pay before the hold ends, or the tickets go back on sale."),
  );
  const markUrgent = () => {
    const urgent = holdUrgent(b.expires_at);
    hold.classList.toggle("urgent", urgent);
    hold.classList.toggle("info", !urgent);
    hold.classList.toggle("warning", urgent);
  };
  markUrgent();
  every(ctx.signal, 1000, markUrgent);

  const node = h(
    "section",
    { class: "stack checkout" },
    h("p", { class: "crumbs" }, h("a", { href: eventHref(c) }, `← ${c.event?.title ?? "Events"}`)),
    pageHeading("Checkout"),
    h("section", { "aria-labelledby": "h-order" }, h("h2", { id: "h-order" }, "Your order"), summary(b, c)),
    hold,
    h(
      "section",
      { "aria-labelledby": "h-pay" },
      h("h2", { id: "h-pay" }, "Payment"),
      h(
        "p",
        { id: "pay-note" },
        "You'll enter your card on our payment partner's secure page, then come back here for your ticket. Souk never sees your card number.",
      ),
      alertSlot,
      h("p", { class: "actions" }, pay, cancelBtn),
    ),
  );
  return { title: "Checkout", node };
}

// ---- the return from the payment page --------------------------------------------------------------

const HEADINGS: Record<Outcome["kind"], string> = {
  waiting: "Checking your payment",
  confirmed: "Booking confirmed",
  failed: "Payment declined",
  expired: "Your hold expired",
  cancelled: "Booking cancelled",
  refunded: "Booking refunded",
};

/** The sentence while waiting. */
export function waitingText(phase: "payment" | "booking", hint: ReturnHint): string {
  if (phase === "booking") return "Payment received. Confirming your booking…";
  if (hint === "processing") return "Your bank is taking a little longer than usual. Waiting for the payment to go through…";
  return "Waiting for the payment provider to confirm your payment…";
}

export async function checkoutReturnView(ctx: RouteContext): Promise<Page> {
  if (!session.loggedIn) await session.adopt();
  requireUser(ctx);
  const paymentId = ctx.query.get("payment_id") ?? "";
  const bookingId = ctx.query.get("booking_id") ?? "";
  const hint = parseReturnHint(ctx.query.get("result"));
  const heading = pageHeading(HEADINGS.waiting);
  const root = h("section", { class: "stack checkout-return" }, heading);
  if (!paymentId || !bookingId) {
    root.append(
      notice("This address is missing the details of your payment. Your bookings show where each one stands.", "warning"),
      h("p", null, h("a", { class: "button", href: "/bookings" }, "My bookings")),
    );
    return { title: "Payment", node: root };
  }

  const statusLine = h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), waitingText("payment", hint));
  const trouble = h("div");
  const summarySlot = h("div");
  const result = h("div", { class: "stack" });
  root.append(statusLine, trouble, summarySlot, result);

  let ctxOf: Context | null = null;
  let summaryFor = "";
  const showSummary = async (b: Booking) => {
    ctxOf ??= await contextOf(b);
    if (b.status === summaryFor) return;
    summaryFor = b.status;
    summarySlot.replaceChildren(h("section", { "aria-labelledby": "h-order" }, h("h2", { id: "h-order" }, "Your order"), summary(b, ctxOf)));
  };

  const read = async () => {
    const [payment, booking] = await Promise.all([
      api.get<Payment>(`/payments/${encodeURIComponent(paymentId)}`, { signal: ctx.signal }),
      api.get<Booking>(`/bookings/${encodeURIComponent(bookingId)}`, { signal: ctx.signal }),
    ]);
    return { payment, booking };
  };

  const bookAgain = async (b: Booking) => {
    const c = ctxOf ?? (await contextOf(b));
    return h(
      "p",
      { class: "actions" },
      h("a", { class: "button", href: eventHref(c) }, "Book again"),
      h("a", { class: "button secondary", href: "/bookings" }, "My bookings"),
    );
  };

  const final = async (o: Outcome, p: Payment, b: Booking) => {
    statusLine.remove();
    trouble.replaceChildren();
    heading.textContent = HEADINGS[o.kind];
    document.title = `${HEADINGS[o.kind]} · Souk`;
    await showSummary(b);
    const alert = (kind: string, ...lines: string[]) =>
      h("div", { class: `alert ${kind}`, role: kind === "success" ? "status" : "alert" }, lines.map((l) => h("p", null, l)));
    switch (o.kind) {
      case "confirmed":
        result.replaceChildren(
          alert("success", `Payment of ${formatAmount(p.amount)} received. Your booking is confirmed — enjoy the show!`),
          ticketSection(b, ctxOf!, ctx.signal),
        );
        announce("Payment received. Your booking is confirmed.");
        break;
      case "failed":
        result.replaceChildren(
          alert("error", "Your card was declined, so the payment did not go through. Nothing was charged.", "Your seats were released. You can book again and pay with another card."),
          await bookAgain(b),
        );
        break;
      case "expired":
        result.replaceChildren(
          alert(
            "warning",
            "Your hold expired before the payment was completed, and the tickets went back on sale.",
            o.paid
              ? `The ${formatAmount(p.amount)} you paid is refunded automatically to your card: you don't need to do anything.`
              : "If a payment still goes through, it is refunded automatically: you don't need to do anything.",
          ),
          await bookAgain(b),
        );
        break;
      case "cancelled":
        result.replaceChildren(
          alert("warning", "This booking was cancelled.", o.paid ? "Your payment is refunded automatically." : "Nothing was charged."),
          await bookAgain(b),
        );
        break;
      case "refunded":
        result.replaceChildren(alert("info", "This booking was refunded: the money goes back to the card you paid with."), h("p", null, h("a", { href: "/bookings" }, "My bookings")));
        break;
      case "waiting":
        break;
    }
    heading.focus();
  };

  let checkedAgain = false;
  const start = () => {
    trouble.replaceChildren();
    result.replaceChildren();
    statusLine.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), waitingText("payment", hint));
    if (!statusLine.isConnected) summarySlot.before(statusLine);
    void pollOutcome({
      read,
      signal: ctx.signal,
      // Back from "Cancel and return": one look (the hold may still be on), no waiting.
      deadlineMs: hint === "cancelled" && !checkedAgain ? 0 : 60_000,
      onUpdate: (s: PollState, data) => void update(s, data),
    });
  };

  const update = async (s: PollState, data: { payment: Payment; booking: Booking } | null) => {
    if (data) {
      if (data.payment.booking_id && data.payment.booking_id !== data.booking.id) {
        s = { ...s, fatal: true, error: new ApiError(404, "NOT_FOUND", "payment and booking do not match") };
      } else {
        await showSummary(data.booking);
      }
    }
    if (s.outcome && s.outcome.kind !== "waiting" && data && !s.fatal) return final(s.outcome, data.payment, data.booking);
    if (s.fatal) {
      statusLine.remove();
      trouble.replaceChildren(errorBox(s.error, undefined, ctx.signal), h("p", null, h("a", { href: "/bookings" }, "My bookings")));
      return;
    }
    const phase = s.outcome?.kind === "waiting" ? s.outcome.phase : "payment";
    if (s.timedOut) {
      statusLine.remove();
      const again = h("button", { type: "button", onclick: () => ((checkedAgain = true), start()) }, "Check again");
      if (hint === "cancelled" && !checkedAgain && phase === "payment") {
        heading.textContent = "Payment not made";
        trouble.replaceChildren(
          h(
            "div",
            { class: "alert warning", role: "alert" },
            h("p", null, "You left the payment page without paying. If your hold is still on, you can pay now."),
            h(
              "p",
              { class: "actions" },
              h("a", { class: "button", href: `/checkout/${encodeURIComponent(bookingId)}` }, "Back to checkout"),
              h("a", { class: "button secondary", href: "/bookings" }, "My bookings"),
            ),
          ),
        );
        return;
      }
      trouble.replaceChildren(
        h(
          "div",
          { class: "alert warning", role: "alert" },
          h(
            "p",
            null,
            phase === "booking"
              ? "Your payment went through, and your booking is still being confirmed. It can take a few minutes."
              : "Your payment is still being processed. This can take a few minutes: your booking is confirmed as soon as it goes through.",
          ),
          h("p", null, "You can check again, or find it later in My bookings."),
          h("p", { class: "actions" }, again, h("a", { class: "button secondary", href: "/bookings" }, "My bookings")),
        ),
      );
      return;
    }
    statusLine.lastChild!.textContent = waitingText(phase, hint);
    // A passing error (network, 503, 429): say so quietly, and keep trying.
    trouble.replaceChildren(s.error ? h("p", { class: "muted" }, "Having trouble reaching Souk — still trying…") : "");
  };

  start();
  return { title: "Payment", node: root };
}

