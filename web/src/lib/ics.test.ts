import { describe, expect, it } from "vitest";
import { buildIcs, escapeText, foldLine, icsDate, icsFileName } from "./ics";

describe("ICS", () => {
  const ev = {
    uid: "bkg_1@souk",
    title: "Campus Jazz Night",
    start: new Date("2026-12-09T19:00:00Z"),
    end: new Date("2026-12-09T22:00:00Z"),
    location: "Great Hall, Main St; 2nd floor",
    description: "1 × Standing.\nBring your ticket",
  };
  const text = buildIcs(ev, new Date("2026-11-26T10:00:00.123Z"));

  it("is a VCALENDAR with one VEVENT, CRLF line endings", () => {
    expect(text.startsWith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")).toBe(true);
    expect(text.endsWith("END:VEVENT\r\nEND:VCALENDAR\r\n")).toBe(true);
    expect(text.split("\r\n").filter((l) => l === "BEGIN:VEVENT")).toHaveLength(1);
    expect(text.replace(/\r\n/g, "")).not.toMatch(/\n|\r/);
  });
  it("has UTC times", () => {
    expect(text).toContain("DTSTART:20261209T190000Z\r\n");
    expect(text).toContain("DTEND:20261209T220000Z\r\n");
    expect(text).toContain("DTSTAMP:20261126T100000Z\r\n");
    expect(icsDate(new Date("2026-01-02T03:04:05.678Z"))).toBe("20260102T030405Z");
  });
  it("escapes text values", () => {
    expect(text).toContain("LOCATION:Great Hall\\, Main St\\; 2nd floor\r\n");
    expect(text).toContain("DESCRIPTION:1 × Standing.\\nBring your ticket\r\n");
    expect(escapeText("a\\b")).toBe("a\\\\b");
  });
  it("folds long lines at 75 octets without splitting characters", () => {
    const line = `SUMMARY:${"é".repeat(100)}`;
    const folded = foldLine(line);
    const parts = folded.split("\r\n");
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(new TextEncoder().encode(p).length).toBeLessThanOrEqual(75);
    expect(parts.slice(1).every((p) => p.startsWith(" "))).toBe(true);
    expect(parts.map((p, i) => (i ? p.slice(1) : p)).join("")).toBe(line);
  });
  it("names the file after the title", () => {
    expect(icsFileName("The Rushes — Live!")).toBe("the-rushes-live.ics");
    expect(icsFileName("Café Crème")).toBe("cafe-creme.ics");
    expect(icsFileName("!!!")).toBe("event.ics");
  });
});
