// Admin: users and roles (payouts: views/payouts.ts).

import { api, navigate, requireUser, session } from "../app";
import { ApiError } from "../lib/api";
import { field, h } from "../lib/dom";
import { formatDate } from "../lib/format";
import { Redirect, type Page, type RouteContext } from "../lib/router";
import { ALL_ROLES, type Role, type User } from "../lib/types";
import { announce, empty, errorBox, notice, pageHeading, pagination } from "../lib/ui";

/** The {add, remove} body that turns roles `from` into `to` ("member" is everyone's). */
export function roleDiff(from: Role[], to: Role[]): { add: Role[]; remove: Role[] } {
  return {
    add: to.filter((r) => r !== "member" && !from.includes(r)),
    remove: from.filter((r) => r !== "member" && !to.includes(r)),
  };
}

export function staffNeedsMfa(e: unknown): boolean {
  return e instanceof ApiError && e.status === 403;
}

/** The admin pages' own navigation. */
export function adminTabs(current: string): HTMLElement {
  const tabs: Array<[string, string]> = [
    ["/admin/users", "Users and roles"],
    ["/admin/payouts", "Payouts"],
  ];
  return h(
    "nav",
    { class: "subnav", "aria-label": "Admin" },
    h("ul", null, tabs.map(([href, label]) => h("li", null, h("a", { href, "aria-current": href === current ? "page" : null }, label)))),
  );
}

function userRow(ctx: RouteContext, u: User): HTMLElement {
  const alertSlot = h("div", { class: "form-alert" });
  const boxes = ALL_ROLES.filter((r) => r !== "member").map((r) => {
    const id = `role-${u.id}-${r}`;
    const input = h("input", { type: "checkbox", id, value: r, checked: u.roles.includes(r) }) as HTMLInputElement;
    return { r, input, el: h("span", { class: "checkbox" }, input, h("label", { for: id }, r)) };
  });
  const save = h("button", { type: "button", class: "secondary" }, "Save roles");
  save.addEventListener("click", async () => {
    const wanted = boxes.filter((b) => b.input.checked).map((b) => b.r);
    const diff = roleDiff(u.roles, wanted);
    if (!diff.add.length && !diff.remove.length) {
      alertSlot.replaceChildren(notice("Nothing to change.", "info"));
      return;
    }
    save.disabled = true;
    try {
      const updated = await api.post<User>(`/admin/users/${encodeURIComponent(u.id)}/roles`, diff);
      u.roles = updated.roles;
      alertSlot.replaceChildren(notice(`Roles of ${u.email} saved.`, "success"));
      announce(`Roles of ${u.email} saved.`);
    } catch (e) {
      alertSlot.replaceChildren(errorBox(e, undefined, ctx.signal));
    } finally {
      save.disabled = false;
    }
  });
  const disable = h("button", { type: "button", class: "danger", disabled: u.disabled ?? false }, u.disabled ? "Disabled" : "Disable account");
  disable.addEventListener("click", async () => {
    if (!window.confirm(`Disable ${u.email}? They are logged out everywhere.`)) return;
    disable.disabled = true;
    try {
      await api.post(`/admin/users/${encodeURIComponent(u.id)}/disable`, {});
      disable.textContent = "Disabled";
      announce(`${u.email} disabled.`);
    } catch (e) {
      disable.disabled = false;
      alertSlot.replaceChildren(errorBox(e, undefined, ctx.signal));
    }
  });
  return h(
    "li",
    { class: "card user-row" },
    h("h2", { class: "h3" }, u.display_name, " ", h("span", { class: "muted" }, u.email)),
    h(
      "p",
      { class: "meta" },
      u.email_verified ? "E-mail confirmed" : "E-mail not confirmed",
      " · ",
      u.mfa_enabled ? "2-step on" : "2-step off",
      " · joined ",
      formatDate(u.created_at),
    ),
    h("fieldset", { class: "roles" }, h("legend", null, `Roles of ${u.display_name}`), boxes.map((b) => b.el)),
    alertSlot,
    h("p", { class: "actions" }, save, disable),
  );
}

export async function adminUsersView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  if (!session.hasRole("admin")) throw new Redirect("/forbidden");
  const q = ctx.query.get("q") ?? "";
  const page = Math.max(1, Number(ctx.query.get("page") ?? "1") || 1);
  const search = field({ label: "Search by e-mail or name", name: "q", type: "search", value: q });
  const hrefFor = (p: number, qq = q) => `/admin/users?${new URLSearchParams({ ...(qq ? { q: qq } : {}), ...(p > 1 ? { page: String(p) } : {}) })}`;
  const form = h(
    "form",
    { role: "search", class: "search", onsubmit: (e: Event) => { e.preventDefault(); navigate(hrefFor(1, search.input.value.trim())); } },
    search.wrap,
    h("button", { type: "submit" }, "Search"),
  );
  const results = h("div");
  try {
    const r = await api.list<User>("/admin/users", { query: { q, page, per_page: 20 }, signal: ctx.signal });
    results.append(
      r.data.length ? h("ul", { class: "cards" }, r.data.map((u) => userRow(ctx, u))) : empty("No users match."),
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
      results.append(errorBox(e, () => navigate(ctx.path + (q ? `?q=${encodeURIComponent(q)}` : ""), true), ctx.signal));
    }
  }
  return { title: "Users", node: h("div", { class: "stack" }, adminTabs("/admin/users"), pageHeading("Users and roles"), form, results) };
}
