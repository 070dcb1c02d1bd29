import { describe, expect, it } from "vitest";
import { isRoutableClick, matchRoute, resolve, type Route } from "./router";

describe("matchRoute", () => {
  it("matches literal and parameter segments", () => {
    expect(matchRoute("/", "/")).toEqual({});
    expect(matchRoute("/events/:slug", "/events/campus-jazz-night")).toEqual({ slug: "campus-jazz-night" });
    expect(matchRoute("/events/:slug/book/:show", "/events/a/book/shw_1")).toEqual({ slug: "a", show: "shw_1" });
  });
  it("decodes segments and tolerates a trailing slash", () => {
    expect(matchRoute("/events/:slug", "/events/caf%C3%A9/")).toEqual({ slug: "café" });
  });
  it("does not match other shapes", () => {
    expect(matchRoute("/events/:slug", "/events")).toBeNull();
    expect(matchRoute("/events/:slug", "/events/a/b")).toBeNull();
    expect(matchRoute("/bookings", "/bookings/1")).toBeNull();
    expect(matchRoute("/events/:slug", "/events/%E0%A4%A")).toBeNull();
  });
  it("resolve takes the first route that matches", () => {
    const v = () => ({ title: "", node: document.createElement("div") });
    const routes: Route[] = [
      { pattern: "/organizer/new", view: v },
      { pattern: "/organizer/:x", view: v },
    ];
    expect(resolve(routes, "/organizer/new")?.route).toBe(routes[0]);
    expect(resolve(routes, "/organizer/zzz")?.params).toEqual({ x: "zzz" });
    expect(resolve(routes, "/nope")).toBeNull();
  });
});

describe("isRoutableClick", () => {
  const origin = "http://localhost:3000";
  const link = (href: string, attrs: Record<string, string> = {}) => {
    const a = document.createElement("a");
    a.setAttribute("href", href);
    for (const [k, v] of Object.entries(attrs)) a.setAttribute(k, v);
    document.body.append(a);
    return a;
  };
  const click = (init: MouseEventInit = {}) => new MouseEvent("click", { button: 0, ...init });

  it("takes plain same-origin links", () => {
    expect(isRoutableClick(click(), link("/events/x"), origin)).toBe(true);
  });
  it("leaves modified clicks, new tabs, downloads, hashes, API and other origins to the browser", () => {
    expect(isRoutableClick(click({ ctrlKey: true }), link("/events/x"), origin)).toBe(false);
    expect(isRoutableClick(click({ button: 1 }), link("/events/x"), origin)).toBe(false);
    expect(isRoutableClick(click(), link("/events/x", { target: "_blank" }), origin)).toBe(false);
    expect(isRoutableClick(click(), link("/t.ics", { download: "t.ics" }), origin)).toBe(false);
    expect(isRoutableClick(click(), link("#main"), origin)).toBe(false);
    expect(isRoutableClick(click(), link("/api/v1/openapi.json"), origin)).toBe(false);
    expect(isRoutableClick(click(), link("https://example.com/"), origin)).toBe(false);
  });
});
