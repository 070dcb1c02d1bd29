// Payments, balances and payouts: the shapes, and the logic of the pages that is worth testing
// on its own (what the return from the payment page means, how often to ask, the payout form).

import { ApiError } from "./api";
import { formatDateTime, minorDigits, parseMoney } from "./format";
import type { Booking, Money } from "./types";

export type PaymentStatus = "pending" | "succeeded" | "failed" | "refunded";

export interface Payment {
  id: string;
  status: PaymentStatus;
  booking_id: string;
  amount: Money;
  refunded?: Money;
  /** only while pending */
  checkout_url?: string;
  created_at: string;
  updated_at?: string;
}

export interface BalanceRow {
  currency: string;
  pending: Money;
  available: Money;
  payouts_pending?: Money;
}

export type LedgerAccount = "pending" | "available" | "payout_reserved";

export interface LedgerEntry {
  id: string | number;
  transfer_id: string;
  kind: string;
  account: LedgerAccount | string;
  amount: Money;
  reference?: string;
  created_at: string;
}

export type PayoutStatus = "pending_approval" | "in_transit" | "paid" | "denied";

export interface Payout {
  id: string;
  status: PayoutStatus | string;
  amount: Money;
  created_at: string;
  decided_at?: string | null;
  decided_by?: string | null;
  reason?: string | null;
  user_id?: string;
  user_email?: string | null;
}

/** Where the payment page sends the browser back to (API: return_path). */
export const RETURN_PATH = "/checkout/return";

// ---- money ---------------------------------------------------------------------------------------

/** An amount as money, "$0.00" for zero (formatMoney says "Free", right for prices only). */
export function formatAmount(m: Money, locale?: string): string {
  const digits = minorDigits(m.currency);
  const value = m.amount / 10 ** digits;
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency: m.currency }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${m.currency}`;
  }
}

/** A ledger amount with its sign always shown: "+$15.00", "−$2.50" (a real minus sign), "$0.00". */
export function formatSignedAmount(m: Money, locale?: string): string {
  if (m.amount === 0) return formatAmount(m, locale);
  const abs = formatAmount({ amount: Math.abs(m.amount), currency: m.currency }, locale);
  return m.amount > 0 ? `+${abs}` : `\u2212${abs}`;
}

/** Minor units as the number a person types: 1250 USD -> "12.50", 500 JPY -> "500". */
export function minorToInput(amount: number, currency: string): string {
  const digits = minorDigits(currency);
  return digits > 0 ? (amount / 10 ** digits).toFixed(digits) : String(amount);
}

// ---- the checkout page ---------------------------------------------------------------------------

/** Milliseconds left on a hold (never negative). */
export function holdLeft(expiresAt: string, now = Date.now()): number {
  const t = Date.parse(expiresAt);
  if (Number.isNaN(t)) return 0;
  return Math.max(0, t - now);
}

/** The last minute of a hold is shown as urgent. */
export function holdUrgent(expiresAt: string, now = Date.now()): boolean {
  return holdLeft(expiresAt, now) <= 60_000;
}

/** Only an http(s) URL is followed to the payment page (never javascript: or data:). */
export function safeCheckoutUrl(url: unknown, origin: string): string | null {
  if (typeof url !== "string" || !url) return null;
  let u: URL;
  try {
    u = new URL(url, origin);
  } catch {
    return null;
  }
  return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
}

/**
 * One Idempotency-Key per attempt to pay: a fresh key when the person presses "Pay", the same key
 * when they retry that attempt after an error (so a request that did reach the server cannot
 * start a second payment), and a fresh one again once an attempt has an answer.
 */
export class AttemptKey {
  private key: string | null = null;
  constructor(private readonly make: () => string) {}
  /** A new attempt. */
  fresh(): string {
    this.key = this.make();
    return this.key;
  }
  /** The retry of the current attempt (a fresh key when there is none). */
  retry(): string {
    return this.key ?? this.fresh();
  }
  /** The attempt got its final answer. */
  done(): void {
    this.key = null;
  }
}

// ---- the return from the payment page ------------------------------------------------------------

/** The `result` the payment page puts in the return URL (a hint: the server decides). */
export type ReturnHint = "succeeded" | "failed" | "processing" | "cancelled" | "unknown";

/** The hint, or "unknown"; "cancelled" is the payment page's "Cancel and return to the shop". */
export function parseReturnHint(v: string | null): ReturnHint {
  return v === "succeeded" || v === "failed" || v === "processing" || v === "cancelled" ? v : "unknown";
}

export type Outcome =
  /** still waiting: for the payment's result, or (paid) for the booking's confirmation */
  | { kind: "waiting"; phase: "payment" | "booking" }
  | { kind: "confirmed" }
  /** the card was declined or the payment failed: the seats went back on sale */
  | { kind: "failed" }
  /** the hold ran out; a payment made after it is refunded automatically */
  | { kind: "expired"; paid: boolean }
  | { kind: "cancelled"; paid: boolean }
  | { kind: "refunded" };

export function isFinal(o: Outcome): boolean {
  return o.kind !== "waiting";
}

/** What a payment and its booking, read together, mean for the person who paid. */
export function outcomeOf(p: Pick<Payment, "status" | "refunded">, b: Pick<Booking, "status">): Outcome {
  const paid = p.status === "succeeded" || p.status === "refunded" || (p.refunded?.amount ?? 0) > 0;
  switch (b.status) {
    case "confirmed":
      return { kind: "confirmed" };
    case "expired":
      return { kind: "expired", paid };
    case "refunded":
      return { kind: "refunded" };
    case "cancelled":
      return p.status === "failed" ? { kind: "failed" } : { kind: "cancelled", paid };
    case "reserved":
    default:
      if (p.status === "failed") return { kind: "failed" };
      // Refunded while the booking is still held: the server expires the hold next.
      if (p.status === "refunded") return { kind: "expired", paid: true };
      if (p.status === "succeeded") return { kind: "waiting", phase: "booking" };
      return { kind: "waiting", phase: "payment" };
  }
}

/** How long to wait before asking again: about every second, slowing to 3 s. */
export function pollDelay(attempt: number): number {
  return Math.min(3000, Math.round(1000 * 1.1 ** Math.max(0, attempt)));
}

/** After an error: the server's Retry-After when it gave one, else twice the usual wait. */
export function pollDelayAfterError(attempt: number, err: unknown): number {
  if (err instanceof ApiError && err.retryAfter !== null && err.retryAfter > 0) return err.retryAfter * 1000;
  return Math.min(10_000, pollDelay(attempt) * 2);
}

/** The errors worth asking again after (the answer may change); the others end the wait. */
export function pollErrorIsTransient(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return err.status === 0 || err.status === 429 || err.status >= 500 || err.code === "BAD_RESPONSE";
}

export interface PollState {
  outcome: Outcome | null;
  attempts: number;
  /** the last error, while the poller keeps trying */
  error: unknown;
  /** gave up waiting (the deadline passed, still not final) */
  timedOut: boolean;
  /** stopped on an error that will not go away by asking again */
  fatal: boolean;
}

export interface PollOptions {
  read: () => Promise<{ payment: Payment; booking: Booking }>;
  onUpdate: (s: PollState, data: { payment: Payment; booking: Booking } | null) => void;
  signal: AbortSignal;
  /** how long to keep asking (ms) */
  deadlineMs?: number;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Asks for the payment and the booking until their outcome is final, the deadline passes, an
 * error that won't go away happens, or the page is left. Reports every step to onUpdate.
 */
export async function pollOutcome(o: PollOptions): Promise<PollState> {
  const now = o.now ?? (() => Date.now());
  const wait = o.sleep ?? sleep;
  const deadline = now() + (o.deadlineMs ?? 60_000);
  const state: PollState = { outcome: null, attempts: 0, error: null, timedOut: false, fatal: false };
  for (;;) {
    if (o.signal.aborted) return state;
    let delay: number;
    try {
      const data = await o.read();
      state.attempts += 1;
      state.error = null;
      state.outcome = outcomeOf(data.payment, data.booking);
      if (o.signal.aborted) return state;
      if (isFinal(state.outcome)) {
        o.onUpdate({ ...state }, data);
        return state;
      }
      delay = pollDelay(state.attempts - 1);
      if (now() + delay > deadline) state.timedOut = true;
      o.onUpdate({ ...state }, data);
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return state;
      state.attempts += 1;
      state.error = e;
      if (!pollErrorIsTransient(e)) state.fatal = true;
      delay = pollDelayAfterError(state.attempts - 1, e);
      if (!state.fatal && now() + delay > deadline) state.timedOut = true;
      if (o.signal.aborted) return state;
      o.onUpdate({ ...state }, null);
    }
    if (state.fatal || state.timedOut) return state;
    await wait(delay, o.signal);
  }
}

// ---- balance, ledger, payouts --------------------------------------------------------------------

const KIND_LABEL: Record<string, string> = {
  sale: "Sale",
  escrow_release: "Released to available",
  refund: "Refund",
  payout_requested: "Payout requested",
  payout_denied: "Payout denied (money back)",
  payout_approved: "Payout sent",
  payout_paid: "Payout paid",
  fee: "Fee",
};

/** "payout_requested" -> "Payout requested"; unknown kinds are made readable. */
export function ledgerKindLabel(kind: string): string {
  return KIND_LABEL[kind] ?? (kind ? kind.charAt(0).toUpperCase() + kind.slice(1).replace(/_/g, " ") : "—");
}

const ACCOUNT_LABEL: Record<string, string> = {
  pending: "Pending",
  available: "Available",
  payout_reserved: "Reserved for payouts",
};
export function ledgerAccountLabel(a: string): string {
  return ACCOUNT_LABEL[a] ?? a;
}

const PAYOUT_LABEL: Record<string, string> = {
  pending_approval: "Awaiting approval",
  in_transit: "Approved — on its way",
  paid: "Paid",
  denied: "Denied",
};
export function payoutStatusLabel(s: string): string {
  return PAYOUT_LABEL[s] ?? s;
}

/** The payout form: the amount typed, in the chosen currency, at most what is available. */
export function checkPayout(
  text: string,
  currency: string,
  balances: BalanceRow[],
): { amount: Money; error?: undefined } | { amount?: undefined; error: string } {
  const row = balances.find((b) => b.currency === currency);
  if (!row) return { error: "Choose a currency you have a balance in." };
  if (!text.trim()) return { error: "Enter an amount." };
  const minor = parseMoney(text, currency);
  const digits = minorDigits(currency);
  if (minor === null)
    return { error: digits > 0 ? `Enter an amount like 12.50 (at most ${digits} decimals).` : "Enter a whole amount." };
  if (minor <= 0) return { error: "Enter an amount greater than zero." };
  if (minor > row.available.amount)
    return { error: `That is more than your available balance (${formatAmount(row.available)}).` };
  return { amount: { amount: minor, currency } };
}

/** The field error the server gave for the amount (details.fields.amount or amount.amount). */
export function amountFieldError(err: unknown): string | null {
  if (!(err instanceof ApiError)) return null;
  const f = err.fields;
  return f["amount"] ?? f["amount.amount"] ?? f["amount.currency"] ?? f["currency"] ?? null;
}

/** "Requested 1 Jun 2026, 10:00 · decided 2 Jun 2026, 09:00" */
export function payoutWhen(p: Payout, locale?: string, timeZone?: string): string {
  const parts = [`Requested ${formatDateTime(p.created_at, locale, timeZone)}`];
  if (p.decided_at) parts.push(`decided ${formatDateTime(p.decided_at, locale, timeZone)}`);
  return parts.join(" · ");
}
