import { describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import { formatCountdown } from "./format";
import {
  AttemptKey,
  amountFieldError,
  checkPayout,
  formatAmount,
  formatSignedAmount,
  holdLeft,
  holdUrgent,
  ledgerKindLabel,
  minorToInput,
  outcomeOf,
  parseReturnHint,
  pollDelay,
  pollDelayAfterError,
  pollOutcome,
  safeCheckoutUrl,
  type BalanceRow,
  type Payment,
  type PollState,
} from "./payments";
import type { Booking } from "./types";

const usd = (amount: number) => ({ amount, currency: "USD" });

describe("money", () => {
  it("formats zero as money, not 'Free'", () => {
    expect(formatAmount(usd(0), "en-US")).toBe("$0.00");
    expect(formatAmount(usd(123456), "en-US")).toBe("$1,234.56");
    expect(formatAmount({ amount: 500, currency: "JPY" }, "en-US")).toBe("¥500");
  });
  it("shows the sign of ledger amounts", () => {
    expect(formatSignedAmount(usd(1500), "en-US")).toBe("+$15.00");
    expect(formatSignedAmount(usd(-250), "en-US")).toBe("\u2212$2.50");
    expect(formatSignedAmount(usd(0), "en-US")).toBe("$0.00");
  });
  it("turns minor units into what a person types", () => {
    expect(minorToInput(1250, "USD")).toBe("12.50");
    expect(minorToInput(500, "JPY")).toBe("500");
  });
});

describe("the hold on the checkout page", () => {
  const now = Date.parse("2026-06-01T12:00:00Z");
  it("counts down to expires_at", () => {
    expect(holdLeft("2026-06-01T12:05:00Z", now)).toBe(300_000);
    expect(formatCountdown(holdLeft("2026-06-01T12:05:00Z", now))).toBe("5:00");
    expect(formatCountdown(holdLeft("2026-06-01T12:00:59.2Z", now))).toBe("1:00");
    expect(holdLeft("2026-06-01T11:59:00Z", now)).toBe(0);
    expect(holdLeft("garbage", now)).toBe(0);
  });
  it("is urgent in its last minute", () => {
    expect(holdUrgent("2026-06-01T12:01:00Z", now)).toBe(true);
    expect(holdUrgent("2026-06-01T12:01:01Z", now)).toBe(false);
  });
  it("follows only http(s) checkout URLs", () => {
    expect(safeCheckoutUrl("http://127.0.0.1:8080/psp/checkout/pi_1", "http://x")).toBe("http://127.0.0.1:8080/psp/checkout/pi_1");
    expect(safeCheckoutUrl("/psp/checkout/pi_1", "https://souk.test")).toBe("https://souk.test/psp/checkout/pi_1");
    expect(safeCheckoutUrl("javascript:alert(1)", "http://x")).toBeNull();
    expect(safeCheckoutUrl("data:text/html,hi", "http://x")).toBeNull();
    expect(safeCheckoutUrl(undefined, "http://x")).toBeNull();
  });
  it("uses one Idempotency-Key per attempt, the same on its retry", () => {
    let n = 0;
    const k = new AttemptKey(() => `k${++n}`);
    expect(k.retry()).toBe("k1"); // no attempt yet: a fresh one
    expect(k.fresh()).toBe("k2");
    expect(k.retry()).toBe("k2");
    expect(k.retry()).toBe("k2");
    k.done();
    expect(k.fresh()).toBe("k3");
  });
});

describe("the return from the payment page", () => {
  const p = (status: Payment["status"], refunded = 0) => ({ status, refunded: usd(refunded) });
  const b = (status: Booking["status"]) => ({ status });

  it("reads the result hint", () => {
    expect(parseReturnHint("succeeded")).toBe("succeeded");
    expect(parseReturnHint("processing")).toBe("processing");
    expect(parseReturnHint("failed")).toBe("failed");
    expect(parseReturnHint("cancelled")).toBe("cancelled");
    expect(parseReturnHint("<script>")).toBe("unknown");
    expect(parseReturnHint(null)).toBe("unknown");
  });

  it.each([
    ["pending", "reserved", { kind: "waiting", phase: "payment" }],
    ["succeeded", "reserved", { kind: "waiting", phase: "booking" }],
    ["succeeded", "confirmed", { kind: "confirmed" }],
    ["failed", "reserved", { kind: "failed" }],
    ["failed", "cancelled", { kind: "failed" }],
    ["pending", "cancelled", { kind: "cancelled", paid: false }],
    ["pending", "expired", { kind: "expired", paid: false }],
    ["succeeded", "expired", { kind: "expired", paid: true }],
    ["refunded", "expired", { kind: "expired", paid: true }],
    ["refunded", "reserved", { kind: "expired", paid: true }],
    ["refunded", "refunded", { kind: "refunded" }],
  ] as const)("payment %s + booking %s", (ps, bs, want) => {
    expect(outcomeOf(p(ps), b(bs))).toEqual(want);
  });

  it("a partly refunded payment counts as paid", () => {
    expect(outcomeOf(p("succeeded", 100), b("expired"))).toEqual({ kind: "expired", paid: true });
  });

  it("asks about every second, then slower, never slower than 3 s", () => {
    expect(pollDelay(0)).toBe(1000);
    expect(pollDelay(1)).toBe(1100);
    expect(pollDelay(5)).toBeGreaterThan(1500);
    expect(pollDelay(50)).toBe(3000);
    let total = 0;
    let n = 0;
    while (total < 60_000) total += pollDelay(n++);
    expect(n).toBeGreaterThan(20); // ~every second at first, about 25 looks in a minute
    expect(n).toBeLessThan(40);
  });

  it("waits out Retry-After after an error", () => {
    expect(pollDelayAfterError(0, new ApiError(429, "RATE_LIMITED", "", {}, null, 7))).toBe(7000);
    expect(pollDelayAfterError(0, new ApiError(503, "UNAVAILABLE", ""))).toBe(2000);
  });
});

describe("pollOutcome", () => {
  const payment = (status: Payment["status"]): Payment => ({
    id: "pay_1",
    status,
    booking_id: "bkg_1",
    amount: usd(1500),
    checkout_url: "http://x/psp/checkout/pi_1",
    created_at: "2026-06-01T12:00:00Z",
  });
  const booking = (status: Booking["status"]): Booking => ({
    id: "bkg_1",
    status,
    event_id: "evt",
    show_id: "shw",
    zone_id: "zon",
    quantity: 1,
    amount: usd(1500),
    expires_at: "2026-06-01T12:10:00Z",
    created_at: "2026-06-01T12:00:00Z",
  });
  function clock() {
    let t = 0;
    return {
      now: () => t,
      sleep: vi.fn(async (ms: number) => {
        t += ms;
      }),
    };
  }

  it("goes on until the booking is confirmed", async () => {
    const answers: Array<[Payment["status"], Booking["status"]]> = [
      ["pending", "reserved"],
      ["pending", "reserved"],
      ["succeeded", "reserved"],
      ["succeeded", "confirmed"],
    ];
    const c = clock();
    const seen: PollState[] = [];
    const s = await pollOutcome({
      read: async () => {
        const [ps, bs] = answers.shift()!;
        return { payment: payment(ps), booking: booking(bs) };
      },
      onUpdate: (st) => seen.push(st),
      signal: new AbortController().signal,
      ...c,
    });
    expect(s.outcome).toEqual({ kind: "confirmed" });
    expect(s.attempts).toBe(4);
    expect(seen.map((x) => x.outcome?.kind)).toEqual(["waiting", "waiting", "waiting", "confirmed"]);
    expect(seen[2]!.outcome).toEqual({ kind: "waiting", phase: "booking" });
    expect(c.sleep.mock.calls.map((x) => x[0])).toEqual([1000, 1100, 1210]);
  });

  it("stops at the deadline when still pending", async () => {
    const c = clock();
    const s = await pollOutcome({
      read: async () => ({ payment: payment("pending"), booking: booking("reserved") }),
      onUpdate: () => {},
      signal: new AbortController().signal,
      deadlineMs: 60_000,
      ...c,
    });
    expect(s.timedOut).toBe(true);
    expect(s.outcome).toEqual({ kind: "waiting", phase: "payment" });
    expect(c.now()).toBeLessThanOrEqual(60_000);
    expect(s.attempts).toBeGreaterThan(20);
  });

  it("rides out a 503, then reports the decline", async () => {
    const c = clock();
    let n = 0;
    const seen: PollState[] = [];
    const s = await pollOutcome({
      read: async () => {
        n += 1;
        if (n === 1) throw new ApiError(503, "UNAVAILABLE", "", {}, null, 2);
        return { payment: payment("failed"), booking: booking("cancelled") };
      },
      onUpdate: (st) => seen.push(st),
      signal: new AbortController().signal,
      ...c,
    });
    expect(s.outcome).toEqual({ kind: "failed" });
    expect(seen[0]!.error).toBeInstanceOf(ApiError);
    expect(seen[1]!.error).toBeNull();
    expect(c.sleep.mock.calls[0]![0]).toBe(2000);
  });

  it("stops on an error that asking again won't fix", async () => {
    const c = clock();
    const s = await pollOutcome({
      read: async () => {
        throw new ApiError(404, "NOT_FOUND", "");
      },
      onUpdate: () => {},
      signal: new AbortController().signal,
      ...c,
    });
    expect(s.fatal).toBe(true);
    expect(s.attempts).toBe(1);
    expect(c.sleep).not.toHaveBeenCalled();
  });

  it("stops when the page is left", async () => {
    const ac = new AbortController();
    const c = clock();
    let n = 0;
    const s = await pollOutcome({
      read: async () => {
        if (++n === 2) ac.abort();
        return { payment: payment("pending"), booking: booking("reserved") };
      },
      onUpdate: () => {},
      signal: ac.signal,
      ...c,
    });
    expect(n).toBe(2);
    expect(s.outcome?.kind).toBe("waiting");
  });
});

describe("payouts", () => {
  const balances: BalanceRow[] = [
    { currency: "USD", pending: usd(5000), available: usd(2500), payouts_pending: usd(0) },
    { currency: "JPY", pending: { amount: 0, currency: "JPY" }, available: { amount: 900, currency: "JPY" } },
  ];
  it("accepts an amount up to what is available", () => {
    expect(checkPayout("25", "USD", balances)).toEqual({ amount: usd(2500) });
    expect(checkPayout(" 10.5 ", "USD", balances)).toEqual({ amount: usd(1050) });
    expect(checkPayout("900", "JPY", balances)).toEqual({ amount: { amount: 900, currency: "JPY" } });
  });
  it("explains what is wrong", () => {
    expect(checkPayout("", "USD", balances).error).toBe("Enter an amount.");
    expect(checkPayout("0", "USD", balances).error).toBe("Enter an amount greater than zero.");
    expect(checkPayout("1.005", "USD", balances).error).toMatch(/like 12\.50/);
    expect(checkPayout("-3", "USD", balances).error).toMatch(/like 12\.50/);
    expect(checkPayout("9.5", "JPY", balances).error).toBe("Enter a whole amount.");
    expect(checkPayout("25.01", "USD", balances).error).toMatch(/more than your available balance \(\$25\.00\)/);
    expect(checkPayout("1", "EUR", balances).error).toMatch(/currency/);
  });
  it("finds the server's field error for the amount", () => {
    expect(amountFieldError(new ApiError(422, "VALIDATION_FAILED", "", { fields: { amount: "exceeds the available balance" } }))).toBe("exceeds the available balance");
    expect(amountFieldError(new ApiError(422, "VALIDATION_FAILED", "", { fields: { "amount.amount": "must be positive" } }))).toBe("must be positive");
    expect(amountFieldError(new ApiError(403, "EMAIL_NOT_VERIFIED", ""))).toBeNull();
  });
  it("labels ledger kinds", () => {
    expect(ledgerKindLabel("sale")).toBe("Sale");
    expect(ledgerKindLabel("payout_requested")).toBe("Payout requested");
    expect(ledgerKindLabel("chargeback_fee")).toBe("Chargeback fee");
  });
});
