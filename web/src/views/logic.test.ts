import { describe, expect, it } from "vitest";
import type { Booking } from "../lib/types";
import { roleDiff } from "./admin";
import { checkSignup } from "./auth";
import { saleOpen, ticketsHeld } from "./events";
import { readEventForm } from "./organizer";

describe("views' logic", () => {
  it("counts the tickets held against the per-user limit", () => {
    const b = (event_id: string, status: Booking["status"], quantity: number) => ({ event_id, status, quantity }) as Booking;
    expect(ticketsHeld([b("e1", "reserved", 2), b("e1", "confirmed", 1), b("e1", "cancelled", 5), b("e1", "expired", 3), b("e2", "confirmed", 4)], "e1")).toBe(3);
  });
  it("knows when a sale is open", () => {
    const now = Date.parse("2026-06-01T00:00:00Z");
    expect(saleOpen({ sale_starts_at: "2026-05-31T23:59:59Z" }, now)).toBe(true);
    expect(saleOpen({ sale_starts_at: "2026-06-01T00:00:01Z" }, now)).toBe(false);
  });
  it("turns role checkboxes into add/remove", () => {
    expect(roleDiff(["member", "seller"], ["organizer"])).toEqual({ add: ["organizer"], remove: ["seller"] });
    expect(roleDiff(["member", "admin"], ["admin", "member"])).toEqual({ add: [], remove: [] });
  });
  it("checks sign-up fields before sending", () => {
    expect(checkSignup({ email: "a@b.co", password: "0123456789", display_name: "A" })).toEqual({});
    expect(Object.keys(checkSignup({ email: "nope", password: "short", display_name: " " })).sort()).toEqual(["display_name", "email", "password"]);
  });
  it("reads the event form", () => {
    const ok = readEventForm({ title: " Gala ", starts_at: "2031-06-01T19:00", sale_starts_at: "2031-01-01T09:00", max_per_user: "4", venue: "", description: "", category: "music" });
    expect(ok.errors).toEqual({});
    expect(ok.body).toMatchObject({ title: "Gala", max_per_user: 4, category: "music" });
    const bad = readEventForm({ title: "", starts_at: "2031-06-01T19:00", sale_starts_at: "2031-07-01T09:00", max_per_user: "0" });
    expect(Object.keys(bad.errors).sort()).toEqual(["max_per_user", "sale_starts_at", "title"]);
  });
});
