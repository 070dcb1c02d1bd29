// The app's singletons: the API client, the session, the router, and the layout around pages.

import { Api } from "./lib/api";
import { h, replace } from "./lib/dom";
import { Redirect, Router, type Page, type Route, type RouteContext } from "./lib/router";
import { Session } from "./lib/session";
import { errorBox, pageHeading, setLiveRegion, takeFlash } from "./lib/ui";

export const api = new Api();
export const session = new Session(api, window.sessionStorage);

let router: Router | null = null;
export function navigate(to: string, replaceEntry = false): void {
  router?.navigate(to, { replace: replaceEntry });
}

/** For pages that need a logged-in user: otherwise to the log-in page, and back after it. */
export function requireUser(ctx: RouteContext): void {
  if (!session.loggedIn) throw new Redirect(`/login?next=${encodeURIComponent(ctx.path + (ctx.query.toString() ? `?${ctx.query}` : ""))}`);
}

/** A safe same-site path from ?next= (never another origin). */
export function nextPath(ctx: RouteContext, fallback = "/"): string {
  const n = ctx.query.get("next");
  if (n && n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/\\")) return n;
  return fallback;
}

function navLinks(): HTMLElement {
  const u = session.user;
  // [href, label, the path prefix that marks it current (default: href)]
  const items: Array<[string, string, string?]> = [["/", "Events"]];
  if (u) items.push(["/bookings", "My bookings"]);
  if (u && (u.roles.includes("organizer") || u.roles.includes("admin"))) items.push(["/organizer", "Organizer"]);
  if (u && (["seller", "business", "organizer"] as const).some((r) => u.roles.includes(r))) items.push(["/balance", "Balance"]);
  if (u && u.roles.includes("admin")) items.push(["/admin/users", "Admin", "/admin"]);
  if (u) items.push(["/profile", "Profile"]);
  else items.push(["/login", "Log in"], ["/signup", "Sign up"]);
  const list = h(
    "ul",
    null,
    items.map(([href, label, prefix]) => h("li", null, h("a", { href, "data-nav": prefix ?? href }, label))),
  );
  if (u) {
    list.append(
      h(
        "li",
        null,
        h(
          "button",
          {
            type: "button",
            class: "link",
            onclick: async () => {
              await session.logout();
              navigate("/");
            },
          },
          "Log out",
        ),
      ),
    );
  }
  return list;
}

export function mount(root: HTMLElement, routes: Route[], notFound: (ctx: RouteContext) => Page): void {
  const nav = h("nav", { class: "site-nav", "aria-label": "Main" });
  const main = h("main", { id: "main", tabindex: -1 });
  const live = h("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true", id: "live" });
  const progress = h("div", { class: "progress", role: "status", hidden: true }, "Loading…");
  setLiveRegion(live);
  replace(
    root,
    h("a", { class: "skip-link", href: "#main" }, "Skip to content"),
    h(
      "header",
      { class: "site-header" },
      h("div", { class: "wrap header-row" }, h("a", { class: "brand", href: "/" }, "Souk"), nav),
    ),
    progress,
    h("div", { class: "wrap" }, main),
    h("footer", { class: "site-footer" }, h("div", { class: "wrap" }, h("p", null, "Souk — local events and tickets."))),
    live,
  );
  // The skip link moves focus without changing the route.
  root.querySelector(".skip-link")?.addEventListener("click", (ev) => {
    ev.preventDefault();
    main.focus();
  });

  let currentPath = location.pathname;
  const markCurrent = () => {
    for (const a of nav.querySelectorAll<HTMLAnchorElement>("a[data-nav]")) {
      const href = a.dataset["nav"]!;
      const here = href === "/" ? currentPath === "/" : currentPath === href || currentPath.startsWith(`${href}/`);
      if (here) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  };
  const renderNav = () => {
    replace(nav, navLinks());
    markCurrent();
  };
  renderNav();
  session.onChange(renderNav);

  let first = true;
  router = new Router(
    routes,
    notFound,
    (page, path) => {
      currentPath = path;
      document.title = `${page.title} · Souk`;
      replace(main, page.node);
      const flashBox = takeFlash();
      if (flashBox) {
        const h1 = main.querySelector("h1");
        if (h1) h1.after(flashBox);
        else main.prepend(flashBox);
      }
      main.removeAttribute("aria-busy");
      markCurrent();
      // Focus to the new page's heading (not on the first load: the browser's own start).
      if (!first) {
        const h1 = main.querySelector<HTMLElement>("h1");
        (h1 ?? main).focus();
      }
      first = false;
    },
    (e) => {
      if (e instanceof Error && !(e instanceof Redirect)) console.error(e);
      return {
        title: "Error",
        node: h("section", null, pageHeading("Something went wrong"), errorBox(e, () => router?.reload())),
      };
    },
    (on) => {
      progress.hidden = !on;
      if (on) main.setAttribute("aria-busy", "true");
      else main.removeAttribute("aria-busy");
    },
  );
  router.start();
}

export function reloadPage(): void {
  router?.reload();
}
