// A tiny history-API router: patterns like /events/:slug, same-origin link interception, focus
// moved to the new page's heading and the page title announced (WCAG 2.4.3 / 4.1.3).

export type Params = Record<string, string>;

export interface RouteContext {
  path: string;
  params: Params;
  query: URLSearchParams;
  /** aborted when the page is left: timers and pollers stop with it */
  signal: AbortSignal;
}

export interface Page {
  title: string;
  node: Node;
}

export type View = (ctx: RouteContext) => Page | Promise<Page>;

/** Thrown by a view to go elsewhere instead (a login wall, say). */
export class Redirect extends Error {
  constructor(readonly to: string) {
    super(`redirect to ${to}`);
  }
}

export interface Route {
  pattern: string;
  view: View;
}

/** Params for a path matching pattern, or null. Segments are URI-decoded. */
export function matchRoute(pattern: string, path: string): Params | null {
  const strip = (s: string) => s.replace(/\/+$/, "") || "/";
  const ps = strip(pattern).split("/");
  const xs = strip(path).split("/");
  if (ps.length !== xs.length) return null;
  const params: Params = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i]!;
    const x = xs[i]!;
    if (p.startsWith(":")) {
      if (!x) return null;
      try {
        params[p.slice(1)] = decodeURIComponent(x);
      } catch {
        return null;
      }
    } else if (p !== x) {
      return null;
    }
  }
  return params;
}

export function resolve(routes: Route[], path: string): { route: Route; params: Params } | null {
  for (const route of routes) {
    const params = matchRoute(route.pattern, path);
    if (params) return { route, params };
  }
  return null;
}

/** Only same-origin, plain left clicks on links without target/download are ours. */
export function isRoutableClick(ev: MouseEvent, a: HTMLAnchorElement, origin: string): boolean {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return false;
  if (a.target && a.target !== "_self") return false;
  if (a.hasAttribute("download")) return false;
  const href = a.getAttribute("href");
  if (!href || href.startsWith("#")) return false;
  let url: URL;
  try {
    url = new URL(a.href, origin);
  } catch {
    return false;
  }
  if (url.origin !== origin) return false;
  if (url.pathname.startsWith("/api/")) return false;
  return true;
}

export class Router {
  private controller: AbortController | null = null;
  private seq = 0;

  constructor(
    private readonly routes: Route[],
    private readonly notFound: View,
    private readonly render: (page: Page, path: string) => void,
    private readonly onError: (e: unknown) => Page,
    private readonly busy: (on: boolean) => void = () => {},
  ) {}

  start(): void {
    window.addEventListener("popstate", () => void this.load(false));
    document.addEventListener("click", (ev) => {
      const a = (ev.target as Element | null)?.closest?.("a");
      if (!a || !(a instanceof HTMLAnchorElement)) return;
      if (!isRoutableClick(ev, a, location.origin)) return;
      ev.preventDefault();
      const url = new URL(a.href);
      this.navigate(url.pathname + url.search);
    });
    void this.load(false);
  }

  navigate(to: string, opts: { replace?: boolean } = {}): void {
    if (opts.replace) history.replaceState(null, "", to);
    else history.pushState(null, "", to);
    void this.load(true);
  }

  /** Renders the current location again (after a login, say). */
  reload(): void {
    void this.load(false);
  }

  private async load(scrollTop: boolean): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const seq = ++this.seq;
    const path = location.pathname;
    const found = resolve(this.routes, path);
    const ctx: RouteContext = {
      path,
      params: found?.params ?? {},
      query: new URLSearchParams(location.search),
      signal: controller.signal,
    };
    let page: Page;
    const slow = window.setTimeout(() => this.busy(true), 150);
    try {
      page = await (found ? found.route.view(ctx) : this.notFound(ctx));
    } catch (e) {
      if (seq !== this.seq) return;
      if (e instanceof Redirect) {
        window.clearTimeout(slow);
        history.replaceState(null, "", e.to);
        return this.load(scrollTop);
      }
      if (e instanceof DOMException && e.name === "AbortError") return;
      page = this.onError(e);
    } finally {
      window.clearTimeout(slow);
    }
    if (seq !== this.seq) return; // a newer navigation won
    this.busy(false);
    this.render(page, path);
    if (scrollTop) window.scrollTo(0, 0);
  }
}
