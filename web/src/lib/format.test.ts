import { describe, expect, it } from "vitest";
import { describeCountdown, formatCountdown, formatMoney, localInputToRfc3339, parseMoney, quantityChoices, rfc3339ToLocalInput } from "./format";

describe("formatCountdown", () => {
  it.each([
    [-5000, "0:00"],
    [0, "0:00"],
    [999, "0:01"],
    [65_000, "1:05"],
    [600_000, "10:00"],
    [3_723_000, "1:02:03"],
    [86_400_000 * 2 + 3_723_000, "2d 01:02:03"],
  ])("%i ms -> %s", (ms, text) => expect(formatCountdown(ms)).toBe(text));
});

describe("describeCountdown", () => {
  it.each([
    [0, "no time"],
    [30_000, "less than a minute"],
    [60_000, "1 minute"],
    [90_000, "2 minutes"],
    [600_000, "10 minutes"],
    [3_600_000, "1 hour"],
    [5_400_000, "1 hour 30 minutes"],
    [86_400_000, "1 day"],
    [90_000_000, "1 day 1 hour"],
  ])("%i ms -> %s", (ms, text) => expect(describeCountdown(ms)).toBe(text));
});

describe("money", () => {
  it("formats minor units", () => {
    expect(formatMoney({ amount: 1500, currency: "USD" }, "en-US")).toBe("$15.00");
    expect(formatMoney({ amount: 0, currency: "USD" }, "en-US")).toBe("Free");
    expect(formatMoney({ amount: 500, currency: "JPY" }, "en-US")).toBe("¥500");
  });
  it("parses what organizers type", () => {
    expect(parseMoney("12.5")).toBe(1250);
    expect(parseMoney("12.50")).toBe(1250);
    expect(parseMoney("0")).toBe(0);
    expect(parseMoney(" 7 ")).toBe(700);
    expect(parseMoney("1.005")).toBeNull();
    expect(parseMoney("-1")).toBeNull();
    expect(parseMoney("abc")).toBeNull();
    expect(parseMoney("500", "JPY")).toBe(500);
    expect(parseMoney("5.5", "JPY")).toBeNull();
  });
});

describe("datetime-local", () => {
  it("round-trips through RFC 3339 UTC", () => {
    const iso = localInputToRfc3339("2031-06-01T19:00");
    expect(iso).toMatch(/^2031-06-0\dT\d\d:00:00Z$/);
    expect(rfc3339ToLocalInput(iso!)).toBe("2031-06-01T19:00");
  });
  it("refuses junk", () => {
    expect(localInputToRfc3339("")).toBeNull();
    expect(localInputToRfc3339("tomorrow")).toBeNull();
  });
});

describe("quantityChoices", () => {
  it("respects the per-user limit, what is held already, and availability", () => {
    expect(quantityChoices(6, 200)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(quantityChoices(6, 200, 4)).toEqual([1, 2]);
    expect(quantityChoices(6, 3)).toEqual([1, 2, 3]);
    expect(quantityChoices(4, 0)).toEqual([]);
    expect(quantityChoices(2, 10, 2)).toEqual([]);
    expect(quantityChoices(100000, 100000)).toHaveLength(20);
  });
});
