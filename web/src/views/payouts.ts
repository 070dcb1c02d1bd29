// Money for sellers and organizers: the balance per currency, the ledger, payout requests; and
// for admins, the payouts awaiting approval (approve / deny with a reason).

import { api, navigate, requireUser, session } from "../app";
import { ApiError, newIdempotencyKey } from "../lib/api";
import { field, h, type Field } from "../lib/dom";
import { formatDateTime } from "../lib/format";
import {
  AttemptKey,
  amountFieldError,
  checkPayout,
  formatAmount,
  formatSignedAmount,
  ledgerAccountLabel,
  ledgerKindLabel,
  payoutStatusLabel,
  payoutWhen,
  type BalanceRow,
  type LedgerEntry,
  type Payout,
} from "../lib/payments";
import { Redirect, type Page, type RouteContext } from "../lib/router";
import type { Role } from "../lib/types";
import { announce, busyForm, clearFormError, empty, errorBox, loading, notice, pageHeading, pagination, sentence, showFormError } from "../lib/ui";
import { adminTabs, staffNeedsMfa } from "./admin";

const MONEY_ROLES: Role[] = ["seller", "business", "organizer"];
const LEDGER_PER_PAGE = 20;

export function payoutBadge(status: string): HTMLElement {
  const cls = status === "paid" || status === "in_transit" ? "ok" : status === "denied" ? "sold" : "warn";
  return h("span", { class: `badge ${cls}` }, payoutStatusLabel(status));
}

function balanceCard(b: BalanceRow): HTMLElement {
  return h(
    "li",
    { class: "card balance" },
    h("h3", null, b.currency),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Available"),
      h("dd", { class: "amount big" }, formatAmount(b.available)),
      h("dt", null, "Pending"),
      h("dd", { class: "amount" }, formatAmount(b.pending)),
      b.payouts_pending ? [h("dt", null, "Payouts on the way"), h("dd", { class: "amount" }, formatAmount(b.payouts_pending))] : null,
    ),
  );
}

function ledgerTable(entries: LedgerEntry[]): HTMLElement {
  return h(
    "div",
    { class: "table-scroll", tabindex: 0, role: "region", "aria-label": "Ledger entries" },
    h(
      "table",
      { class: "zones ledger" },
      h("caption", { class: "sr-only" }, "Ledger entries, newest first"),
      h(
        "thead",
        null,
        h("tr", null, ["Date", "What", "Account", "Amount", "Reference"].map((t) => h("th", { scope: "col" }, t))),
      ),
      h(
        "tbody",
        null,
        entries.map((e) =>
          h(
            "tr",
            null,
            h("td", null, h("time", { datetime: e.created_at }, formatDateTime(e.created_at))),
            h("th", { scope: "row" }, ledgerKindLabel(e.kind)),
            h("td", null, ledgerAccountLabel(e.account)),
            h("td", { class: `amount ${e.amount.amount < 0 ? "neg" : "pos"}` }, formatSignedAmount(e.amount)),
            h("td", null, e.reference ? h("code", null, e.reference) : "—"),
          ),
        ),
      ),
    ),
  );
}

function payoutsTable(list: Payout[]): HTMLElement {
  const table = h(
    "table",
    { class: "zones payouts" },
    h("caption", { class: "sr-only" }, "Your payout requests"),
    h("thead", null, h("tr", null, ["Requested", "Amount", "Status", "Note"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      null,
      list.map((p) =>
        h(
          "tr",
          null,
          h("td", null, h("time", { datetime: p.created_at }, formatDateTime(p.created_at))),
          h("th", { scope: "row" }, formatAmount(p.amount)),
          h("td", null, payoutBadge(p.status)),
          h("td", null, p.reason || "—"),
        ),
      ),
    ),
  );
  return h("div", { class: "table-scroll", tabindex: 0, role: "region", "aria-label": "Your payout requests" }, table);
}

export async function balanceView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  if (!MONEY_ROLES.some((r) => session.hasRole(r))) throw new Redirect("/forbidden");
  const page = Math.max(1, Number(ctx.query.get("page") ?? "1") || 1);

  const balanceBox = h("div", null, loading("Loading your balance…"));
  const formBox = h("div");
  const payoutsBox = h("div", null, loading("Loading your payouts…"));
  const ledgerBox = h("div", null, loading("Loading the ledger…"));
  let balances: BalanceRow[] = [];

  const loadBalance = async () => {
    try {
      balances = await api.get<BalanceRow[]>("/balance", { signal: ctx.signal });
      balanceBox.replaceChildren(
        balances.length
          ? h("ul", { class: "cards" }, balances.map(balanceCard))
          : empty("No sales yet. Money from your ticket sales shows here."),
        h(
          "p",
          { class: "hint" },
          "Pending: paid, held until it is released to you (usually after the show). Available: yours to pay out.",
        ),
      );
      renderForm();
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      balanceBox.replaceChildren(errorBox(e, () => void loadBalance(), ctx.signal));
      formBox.replaceChildren();
    }
  };

  const loadPayouts = async () => {
    try {
      const r = await api.list<Payout>("/payouts", { query: { per_page: 50 }, signal: ctx.signal });
      payoutsBox.replaceChildren(r.data.length ? payoutsTable(r.data) : empty("No payouts requested yet."));
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      payoutsBox.replaceChildren(errorBox(e, () => void loadPayouts(), ctx.signal));
    }
  };

  const loadLedger = async () => {
    try {
      const r = await api.list<LedgerEntry>("/ledger/entries", { query: { page, per_page: LEDGER_PER_PAGE }, signal: ctx.signal });
      ledgerBox.replaceChildren(
        r.data.length ? ledgerTable(r.data) : empty(page > 1 ? "No entries on this page." : "No entries yet."),
        pagination(page, r.meta?.per_page ?? LEDGER_PER_PAGE, r.meta?.total ?? 0, (p) => `/balance?page=${p}`) ?? "",
      );
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      ledgerBox.replaceChildren(errorBox(e, () => void loadLedger(), ctx.signal));
    }
  };

  // The payout form: amount (and currency when there are several), checked here first.
  const keys = new AttemptKey(newIdempotencyKey);
  const doneSlot = h("div");
  const renderForm = () => {
    const payable = balances.filter((b) => b.available.amount > 0);
    if (!payable.length) {
      formBox.replaceChildren(doneSlot, empty("Nothing available to pay out yet."));
      return;
    }
    const currencies = payable.map((b) => b.currency);
    const currency = field({
      label: "Currency",
      name: "currency",
      value: currencies[0],
      options: currencies.map((c) => ({ value: c, label: c })),
    });
    const availableOf = (c: string) => formatAmount(balances.find((b) => b.currency === c)!.available);
    const amount = field({
      label: currencies.length === 1 ? `Amount (${currencies[0]})` : "Amount",
      name: "amount",
      required: true,
      inputmode: "decimal",
      autocomplete: "off",
      hint: `Available: ${availableOf(currencies[0]!)}.`,
    });
    const hint = amount.wrap.querySelector<HTMLElement>(".hint")!;
    currency.input.addEventListener("change", () => {
      hint.textContent = `Available: ${availableOf(currency.input.value)}.`;
    });
    const fields: Record<string, Field> = { amount, "amount.amount": amount, currency, "amount.currency": currency };
    const alertSlot = h("div", { class: "form-alert" });
    const send = async (key: string) => {
      const undo = busyForm(form);
      try {
        const checked = checkPayout(amount.input.value, currency.input.value, balances);
        const p = await api.post<Payout>("/payouts", { amount: checked.amount }, { headers: { "Idempotency-Key": key } });
        keys.done();
        undo();
        form.reset();
        clearFormError(fields, alertSlot);
        const text = `Payout of ${formatAmount(p.amount)} requested. An admin reviews it; you'll see its status below.`;
        doneSlot.replaceChildren(notice(text, "success"));
        announce(text);
        await Promise.all([loadBalance(), loadPayouts(), loadLedger()]);
      } catch (e) {
        undo();
        if (!(e instanceof ApiError) || !e.retryable) keys.done();
        showFormError(e, fields, alertSlot, ctx.signal, () => void send(keys.retry()));
        // A field error the form does not know by name still goes next to the amount.
        const msg = amountFieldError(e);
        if (msg) amount.setError(sentence(msg));
      }
    };
    const form: HTMLFormElement = h(
      "form",
      {
        class: "payout-form",
        novalidate: true,
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          doneSlot.replaceChildren();
          const checked = checkPayout(amount.input.value, currency.input.value, balances);
          clearFormError(fields, alertSlot);
          if (checked.error) {
            amount.setError(checked.error);
            alertSlot.append(h("div", { class: "alert error", role: "alert" }, h("p", null, "Please correct the highlighted field.")));
            amount.input.focus();
            return;
          }
          void send(keys.fresh());
        },
      },
      alertSlot,
      currencies.length > 1 ? currency.wrap : null,
      amount.wrap,
      h("button", { type: "submit" }, "Request payout"),
    );
    formBox.replaceChildren(doneSlot, form);
  };

  await Promise.all([loadBalance(), loadPayouts(), loadLedger()]);

  const node = h(
    "div",
    { class: "stack" },
    pageHeading("Balance and payouts"),
    h("section", { "aria-labelledby": "h-balance" }, h("h2", { id: "h-balance" }, "Your balance"), balanceBox),
    h("section", { "aria-labelledby": "h-request" }, h("h2", { id: "h-request" }, "Request a payout"), formBox),
    h("section", { "aria-labelledby": "h-payouts" }, h("h2", { id: "h-payouts" }, "Your payouts"), payoutsBox),
    h("section", { "aria-labelledby": "h-ledger" }, h("h2", { id: "h-ledger" }, "Ledger"), ledgerBox),
  );
  return { title: "Balance", node };
}

// ---- admin -------------------------------------------------------------------------------------------

const STATUS_FILTERS: Array<{ value: string; label: string }> = [
  { value: "pending_approval", label: "Awaiting approval" },
  { value: "in_transit", label: "Approved — on the way" },
  { value: "paid", label: "Paid" },
  { value: "denied", label: "Denied" },
  { value: "all", label: "All" },
];

function adminPayoutRow(ctx: RouteContext, p: Payout): HTMLElement {
  const headingId = `po-${p.id}`;
  const who = p.user_email || (p.user_id ? `account ${p.user_id}` : "an unknown account");
  const statusSlot = h("span", null, payoutBadge(p.status));
  const alertSlot = h("div", { class: "form-alert" });
  const li = h(
    "li",
    { class: "card payout-row", "aria-labelledby": headingId },
    h("h2", { class: "h3", id: headingId }, `${formatAmount(p.amount)} to ${who}`),
    h("p", { class: "meta" }, payoutWhen(p)),
    h("p", null, statusSlot),
    p.reason ? h("p", null, "Reason: ", p.reason) : null,
    alertSlot,
  );
  if (p.status !== "pending_approval") return li;

  const reason = field({
    label: "Reason",
    name: "reason",
    maxlength: 500,
    hint: "Needed to deny (the seller sees it); optional to approve.",
  });
  const approve = h("button", { type: "button", "aria-describedby": headingId }, "Approve");
  const deny = h("button", { type: "button", class: "danger", "aria-describedby": headingId }, "Deny");
  const actions = h("div", { class: "decide" }, reason.wrap, h("p", { class: "actions" }, approve, deny));
  li.append(actions);

  const decide = async (what: "approve" | "deny") => {
    const text = reason.input.value.trim();
    clearFormError({ reason }, alertSlot);
    if (what === "deny" && !text) {
      reason.setError("Enter a reason for denying: the seller sees it.");
      reason.input.focus();
      return;
    }
    if (what === "deny" && !window.confirm(`Deny the payout of ${formatAmount(p.amount)} to ${who}? The money goes back to their available balance.`)) return;
    approve.disabled = true;
    deny.disabled = true;
    try {
      const updated = await api.post<Payout>(`/admin/payouts/${encodeURIComponent(p.id)}/${what}`, text ? { reason: text } : {});
      Object.assign(p, updated);
      statusSlot.replaceChildren(payoutBadge(p.status));
      actions.remove();
      const msg =
        what === "approve"
          ? `Approved: ${formatAmount(p.amount)} to ${who} is on its way.`
          : `Denied: ${formatAmount(p.amount)} went back to ${who}'s available balance. Reason given: ${p.reason || text}`;
      alertSlot.replaceChildren(notice(msg, "success"));
      announce(msg);
    } catch (e) {
      approve.disabled = false;
      deny.disabled = false;
      showFormError(e, { reason }, alertSlot, ctx.signal);
      if (e instanceof ApiError && (e.code === "INVALID_STATE" || e.code === "CONFLICT")) {
        alertSlot.append(h("p", null, h("a", { href: `/admin/payouts?status=${encodeURIComponent(p.status)}` }, "Reload the list")));
      }
    }
  };
  approve.addEventListener("click", () => void decide("approve"));
  deny.addEventListener("click", () => void decide("deny"));
  return li;
}

export async function adminPayoutsView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  if (!session.hasRole("admin")) throw new Redirect("/forbidden");
  const status = STATUS_FILTERS.some((f) => f.value === ctx.query.get("status")) ? ctx.query.get("status")! : "pending_approval";
  const page = Math.max(1, Number(ctx.query.get("page") ?? "1") || 1);
  const hrefFor = (p: number, st = status) => `/admin/payouts?${new URLSearchParams({ status: st, ...(p > 1 ? { page: String(p) } : {}) })}`;
  const filter = field({ label: "Show payouts", name: "status", value: status, options: STATUS_FILTERS });
  const form = h(
    "form",
    {
      class: "search",
      onsubmit: (e: Event) => {
        e.preventDefault();
        navigate(hrefFor(1, filter.input.value));
      },
    },
    filter.wrap,
    h("button", { type: "submit" }, "Show"),
  );
  const results = h("div");
  try {
    const r = await api.list<Payout>("/admin/payouts", {
      query: { status: status === "all" ? undefined : status, page, per_page: 20 },
      signal: ctx.signal,
    });
    results.append(
      r.data.length
        ? h("ul", { class: "cards wide" }, r.data.map((p) => adminPayoutRow(ctx, p)))
        : empty(status === "pending_approval" ? "No payouts awaiting approval." : "No payouts here."),
      pagination(page, r.meta?.per_page ?? 20, r.meta?.total ?? 0, (p) => hrefFor(p)) ?? "",
    );
  } catch (e) {
    if (staffNeedsMfa(e)) {
      results.append(
        notice(
          "Admin pages need a session opened with two-step verification. Turn it on in your profile, then log out and log in again with your code.",
          "warning",
        ),
        h("p", null, h("a", { href: "/profile" }, "Go to your profile")),
      );
    } else {
      results.append(errorBox(e, () => navigate(hrefFor(page), true), ctx.signal));
    }
  }
  return { title: "Payouts", node: h("div", { class: "stack" }, adminTabs("/admin/payouts"), pageHeading("Payouts"), form, results) };
}
