// Formatting: countdowns, money, dates, and the conversions the forms need.

import type { Money } from "./types";

const pad = (n: number) => String(n).padStart(2, "0");

/** A countdown as a clock: "0:00", "4:05", "1:02:03", "2d 03:04:05". */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(total / 86400);
  const hr = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return `${d}d ${pad(hr)}:${pad(m)}:${pad(s)}`;
  if (hr > 0) return `${hr}:${pad(m)}:${pad(s)}`;
  return `${m}:${pad(s)}`;
}

/** The same in words, for screen readers: "2 days 3 hours", "4 minutes", "less than a minute". */
export function describeCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  if (total === 0) return "no time";
  const d = Math.floor(total / 86400);
  const hr = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const unit = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  if (d > 0) return hr > 0 ? `${unit(d, "day")} ${unit(hr, "hour")}` : unit(d, "day");
  if (hr > 0) return m > 0 ? `${unit(hr, "hour")} ${unit(m, "minute")}` : unit(hr, "hour");
  if (m > 0) return unit(m + (total % 60 > 0 ? 1 : 0), "minute");
  return "less than a minute";
}

export function formatMoney(m: Money, locale?: string): string {
  if (m.amount === 0) return "Free";
  const digits = minorDigits(m.currency);
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency: m.currency }).format(m.amount / 10 ** digits);
  } catch {
    return `${(m.amount / 10 ** digits).toFixed(digits)} ${m.currency}`;
  }
}

export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** "12.5" in USD -> 1250; null when not a non-negative amount with at most the currency's decimals. */
export function parseMoney(text: string, currency = "USD"): number | null {
  const t = text.trim();
  const digits = minorDigits(currency);
  const re = digits > 0 ? new RegExp(`^\\d+(\\.\\d{0,${digits}})?$`) : /^\d+$/;
  if (!re.test(t)) return null;
  const [whole, frac = ""] = t.split(".");
  return Number(whole) * 10 ** digits + Number((frac + "0".repeat(digits)).slice(0, digits) || "0");
}

export function formatDateTime(iso: string, locale?: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(d);
}

export function formatDate(iso: string, locale?: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone }).format(d);
}

/** A datetime-local input's value (local time) -> RFC 3339 UTC, or null. */
export function localInputToRfc3339(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** RFC 3339 -> a datetime-local input's value in local time. */
export function rfc3339ToLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** 1..max quantities a person may still pick. */
export function quantityChoices(maxPerUser: number, available: number, alreadyHeld = 0): number[] {
  const n = Math.max(0, Math.min(maxPerUser - alreadyHeld, available, 20));
  return Array.from({ length: n }, (_, i) => i + 1);
}
