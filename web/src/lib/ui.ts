// Shared pieces of the pages: errors, loading and empty states, countdowns, form error display.

import { ApiError, describeWait, userMessage } from "./api";
import { h, type Field, every, onAbort } from "./dom";
import { describeCountdown, formatCountdown } from "./format";

/** A polite live region for status messages (one for the whole app, in the layout). */
let liveRegion: HTMLElement | null = null;
export function setLiveRegion(el: HTMLElement): void {
  liveRegion = el;
}
export function announce(text: string): void {
  if (!liveRegion) return;
  // Cleared first so the same sentence twice is read twice.
  liveRegion.textContent = "";
  window.setTimeout(() => {
    if (liveRegion) liveRegion.textContent = text;
  }, 50);
}

export function loading(text = "Loading…"): HTMLElement {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

export function empty(text: string, ...extra: Array<Node | string>): HTMLElement {
  return h("div", { class: "empty" }, h("p", null, text), ...extra);
}

/**
 * An error as people expect it: the sentence, and for errors worth retrying a "Try again"
 * button (after a 429 it waits out Retry-After, counting down).
 */
export function errorBox(err: unknown, retry?: () => void, signal?: AbortSignal): HTMLElement {
  const box = h("div", { class: "alert error", role: "alert" }, h("p", null, userMessage(err)));
  if (err instanceof ApiError && err.code === "EMAIL_NOT_VERIFIED") {
    box.append(h("p", null, h("a", { href: "/profile" }, "Go to your profile")));
  }
  if (err instanceof ApiError && (err.status === 401) && err.code !== "INVALID_CREDENTIALS" && err.code !== "MFA_REQUIRED") {
    box.append(h("p", null, h("a", { href: `/login?next=${encodeURIComponent(location.pathname + location.search)}` }, "Log in")));
  }
  if (retry && (!(err instanceof ApiError) || err.retryable)) {
    const btn = h("button", { type: "button", class: "secondary", onclick: () => retry() }, "Try again");
    const wait = err instanceof ApiError ? err.retryAfter : null;
    if (wait && wait > 0 && signal) {
      const until = Date.now() + wait * 1000;
      btn.disabled = true;
      const note = h("span", { class: "muted" }, ` (available in ${describeWait(wait)})`);
      const tick = () => {
        const left = until - Date.now();
        if (left <= 0) {
          btn.disabled = false;
          note.textContent = "";
        } else {
          note.textContent = ` (available in ${describeWait(Math.ceil(left / 1000))})`;
        }
      };
      every(signal, 1000, tick);
      box.append(h("p", null, btn, note));
    } else {
      box.append(h("p", null, btn));
    }
  }
  return box;
}

/**
 * A message for the next page (after a navigation that the person did not choose, e.g. a hold
 * that ran out on the checkout page): shown under that page's heading, announced as an alert.
 */
let pendingFlash: { text: string; kind: "info" | "success" | "warning" } | null = null;
export function flash(text: string, kind: "info" | "success" | "warning" = "warning"): void {
  pendingFlash = { text, kind };
}
export function takeFlash(): HTMLElement | null {
  const f = pendingFlash;
  pendingFlash = null;
  if (!f) return null;
  return h("div", { class: `alert ${f.kind} flash`, role: "alert" }, h("p", null, f.text));
}

export function notice(text: string, kind: "info" | "success" | "warning" = "info"): HTMLElement {
  return h("div", { class: `alert ${kind}`, role: "status" }, h("p", null, text));
}

/**
 * Puts an API error on a form: field errors next to their fields (from details.fields), the
 * sentence in the form's alert slot; focus goes to the first invalid field, else the alert.
 */
export function showFormError(
  err: unknown,
  fields: Record<string, Field>,
  alertSlot: HTMLElement,
  signal?: AbortSignal,
  retry?: () => void,
): void {
  for (const f of Object.values(fields)) f.setError(null);
  alertSlot.replaceChildren();
  let first: Field | null = null;
  if (err instanceof ApiError) {
    for (const [name, msg] of Object.entries(err.fields)) {
      const f = fields[name];
      if (f) {
        f.setError(sentence(msg));
        first ??= f;
      }
    }
  }
  const box = errorBox(err, retry, signal);
  alertSlot.append(box);
  if (first) first.input.focus();
  else {
    box.tabIndex = -1;
    box.focus();
  }
}

export function clearFormError(fields: Record<string, Field>, alertSlot: HTMLElement): void {
  for (const f of Object.values(fields)) f.setError(null);
  alertSlot.replaceChildren();
}

/** "must be an e-mail address" -> "Must be an e-mail address." */
export function sentence(s: string): string {
  if (!s) return s;
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Disables a form's controls while a request runs; returns the undo. */
export function busyForm(form: HTMLFormElement): () => void {
  const controls = Array.from(form.querySelectorAll<HTMLButtonElement | HTMLInputElement>("button, input, select, textarea"));
  const was = controls.map((c) => c.disabled);
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute("aria-busy", "true");
  return () => {
    controls.forEach((c, i) => (c.disabled = was[i]!));
    form.removeAttribute("aria-busy");
  };
}

/**
 * A live countdown to target: a visual clock (role=timer, not read every second) and a polite
 * sentence for screen readers, updated each minute and in the last minute.
 */
export function countdown(
  target: Date,
  signal: AbortSignal,
  opts: { label: string; done?: () => void; className?: string },
): HTMLElement {
  const clock = h("span", { class: "clock", role: "timer", "aria-hidden": "true" });
  const spoken = h("span", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true" });
  const el = h("p", { class: `countdown ${opts.className ?? ""}` }, h("span", { class: "countdown-label" }, opts.label, " "), clock, spoken);
  let lastSpoken = "";
  let finished = false;
  const tick = () => {
    const left = target.getTime() - Date.now();
    clock.textContent = formatCountdown(left);
    const words = describeCountdown(left);
    if (words !== lastSpoken) {
      lastSpoken = words;
      spoken.textContent = `${opts.label} ${words}`;
    }
    if (left <= 0 && !finished) {
      finished = true;
      opts.done?.();
    }
  };
  tick();
  every(signal, 1000, tick);
  return el;
}

/** A polite poller that stops when the page is left; backs off on errors. */
export function poll(signal: AbortSignal, fn: () => Promise<number | void>, firstDelayMs: number): void {
  let timer = 0;
  const run = async () => {
    if (signal.aborted) return;
    let next = 5000;
    try {
      const r = await fn();
      if (typeof r === "number") next = r;
    } catch (e) {
      next = e instanceof ApiError && e.retryAfter ? e.retryAfter * 1000 : 10000;
    }
    if (!signal.aborted) timer = window.setTimeout(run, next);
  };
  timer = window.setTimeout(run, firstDelayMs);
  onAbort(signal, () => window.clearTimeout(timer));
}

export function pageHeading(text: string): HTMLHeadingElement {
  return h("h1", { tabindex: -1 }, text);
}

export function pagination(
  page: number,
  perPage: number,
  total: number,
  hrefFor: (page: number) => string,
): HTMLElement | null {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages <= 1) return null;
  return h(
    "nav",
    { class: "pagination", "aria-label": "Pages" },
    page > 1 ? h("a", { href: hrefFor(page - 1), rel: "prev" }, "← Previous") : h("span", { class: "disabled" }, "← Previous"),
    h("span", { "aria-current": "page" }, `Page ${page} of ${pages}`),
    page < pages ? h("a", { href: hrefFor(page + 1), rel: "next" }, "Next →") : h("span", { class: "disabled" }, "Next →"),
  );
}
