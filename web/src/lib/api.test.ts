import { describe, expect, it, vi } from "vitest";
import { Api, ApiError, describeWait, encodeQueryValue, newIdempotencyKey, parseRetryAfter, toError, userMessage } from "./api";

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}
const fail = (status: number, code: string, message = "", details: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  json(status, { success: false, error: { code, message, details }, request_id: "req-1" }, headers);

describe("parseRetryAfter", () => {
  it("reads delta-seconds", () => expect(parseRetryAfter("42")).toBe(42));
  it("reads an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:01:30 GMT", now)).toBe(90);
  });
  it("a date in the past is 0", () => expect(parseRetryAfter("Thu, 01 Jan 2015 00:00:00 GMT")).toBe(0));
  it("nothing or garbage is null", () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
  });
});

describe("describeWait", () => {
  it.each([
    [1, "1 second"],
    [30, "30 seconds"],
    [60, "1 minute"],
    [61, "2 minutes"],
    [900, "15 minutes"],
    [3600, "1 hour"],
    [7200, "2 hours"],
  ])("%i s -> %s", (s, text) => expect(describeWait(s)).toBe(text));
});

describe("toError", () => {
  it("maps the envelope with field errors", async () => {
    const e = await toError(fail(422, "VALIDATION_FAILED", "bad", { fields: { email: "must be an e-mail address" } }));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.fields).toEqual({ email: "must be an e-mail address" });
    expect(e.requestId).toBe("req-1");
    expect(e.retryable).toBe(false);
  });
  it("takes Retry-After on 429", async () => {
    const e = await toError(fail(429, "RATE_LIMITED", "slow down", {}, { "Retry-After": "12" }));
    expect(e.retryAfter).toBe(12);
    expect(e.retryable).toBe(true);
    expect(userMessage(e)).toBe("Too many requests. Please wait 12 seconds and try again.");
  });
  it("a 503 without a JSON body is UNAVAILABLE and retryable", async () => {
    const e = await toError(new Response("busy", { status: 503 }));
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.retryable).toBe(true);
    expect(userMessage(e)).toBe("Souk is busy right now. Please try again in a moment.");
  });
  it("a 503 with Retry-After says how long", async () => {
    const e = await toError(fail(503, "UNAVAILABLE", "x", {}, { "Retry-After": "120" }));
    expect(userMessage(e)).toBe("Souk is busy right now. Please try again in 2 minutes.");
  });
});

describe("userMessage", () => {
  it("locked accounts say for how long", () => {
    expect(userMessage(new ApiError(429, "ACCOUNT_LOCKED", "", {}, null, 900))).toBe(
      "Too many failed log-ins. This account is locked for 15 minutes.",
    );
  });
  it("the domain policy's own sentence is shown", () => {
    expect(userMessage(new ApiError(422, "DOMAIN_NOT_ALLOWED", "only @uni.example addresses may sign up here"))).toBe(
      "only @uni.example addresses may sign up here",
    );
  });
  it("known codes get a plain sentence", () => {
    expect(userMessage(new ApiError(409, "INSUFFICIENT_STOCK", "x"))).toMatch(/Not enough tickets/);
    expect(userMessage(new ApiError(410, "RESERVATION_EXPIRED", "x"))).toMatch(/hold expired/);
  });
  it("server errors carry the reference", () => {
    expect(userMessage(new ApiError(500, "INTERNAL", "boom", {}, "abc"))).toBe("Something went wrong on our side. (Reference: abc)");
  });
  it("network failures", () => {
    expect(userMessage(new ApiError(0, "NETWORK", ""))).toMatch(/could not be reached/);
  });
  it("unknown codes fall back to the server's message", () => {
    expect(userMessage(new ApiError(409, "SOMETHING_NEW", "the server says why"))).toBe("the server says why");
  });
  it("non-API errors get a generic sentence", () => expect(userMessage(new Error("x"))).toMatch(/Something went wrong/));
});

describe("Api", () => {
  it("unwraps data and meta, builds the query", async () => {
    const fetchFn = vi.fn(async (_u: string, _i?: RequestInit) => json(200, { success: true, data: [1, 2], meta: { page: 2, per_page: 2, total: 9 } }));
    const api = new Api(fetchFn);
    const r = await api.list<number>("/events", { query: { q: "jazz night", category: "", page: 2 } });
    expect(r.data).toEqual([1, 2]);
    expect(r.meta?.total).toBe(9);
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/v1/events?q=jazz%20night&page=2");
  });

  it("sends JSON and the bearer token", async () => {
    const fetchFn = vi.fn(async (_u: string, _i?: RequestInit) => json(201, { success: true, data: { id: "b1" } }));
    const api = new Api(fetchFn);
    api.setTokens({ accessToken: () => "tok", refresh: async () => false });
    await api.post("/bookings/reserve", { a: 1 }, { headers: { "Idempotency-Key": "k1" } });
    const init = fetchFn.mock.calls[0]![1]!;
    const h = init.headers as Record<string, string>;
    expect(init.method).toBe("POST");
    expect(init.body).toBe('{"a":1}');
    expect(h["Authorization"]).toBe("Bearer tok");
    expect(h["Content-Type"]).toBe("application/json");
    expect(h["Idempotency-Key"]).toBe("k1");
  });

  it("refreshes silently on 401 TOKEN_EXPIRED and repeats the request with the same headers", async () => {
    let token = "old";
    const seen: Array<{ auth: string; key: string }> = [];
    const fetchFn = vi.fn(async (_u: string, init?: RequestInit) => {
      const h = init!.headers as Record<string, string>;
      seen.push({ auth: h["Authorization"]!, key: h["Idempotency-Key"]! });
      return h["Authorization"] === "Bearer old" ? fail(401, "TOKEN_EXPIRED", "expired") : json(201, { success: true, data: { ok: 1 } });
    });
    const refresh = vi.fn(async () => {
      token = "new";
      return true;
    });
    const api = new Api(fetchFn);
    api.setTokens({ accessToken: () => token, refresh });
    const r = await api.post<{ ok: number }>("/bookings/reserve", {}, { headers: { "Idempotency-Key": "same" } });
    expect(r.ok).toBe(1);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(seen).toEqual([
      { auth: "Bearer old", key: "same" },
      { auth: "Bearer new", key: "same" },
    ]);
  });

  it("gives up when the refresh fails", async () => {
    const fetchFn = vi.fn(async () => fail(401, "TOKEN_EXPIRED", "expired"));
    const api = new Api(fetchFn);
    api.setTokens({ accessToken: () => "old", refresh: async () => false });
    await expect(api.get("/auth/me")).rejects.toMatchObject({ status: 401, code: "TOKEN_EXPIRED" });
    expect(fetchFn).toHaveBeenCalledTimes(1);
  });

  it("does not refresh on a wrong password", async () => {
    const refresh = vi.fn(async () => true);
    const fetchFn = vi.fn(async () => fail(401, "INVALID_CREDENTIALS", "no"));
    const api = new Api(fetchFn);
    api.setTokens({ accessToken: () => null, refresh });
    await expect(api.post("/auth/login", {}, { auth: false })).rejects.toMatchObject({ code: "INVALID_CREDENTIALS" });
    expect(refresh).not.toHaveBeenCalled();
  });

  it("a failed fetch is a NETWORK error", async () => {
    const api = new Api(async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(api.get("/events")).rejects.toMatchObject({ status: 0, code: "NETWORK" });
  });

  it("a 200 that is not the envelope is refused", async () => {
    const api = new Api(async () => new Response("<html>", { status: 200 }));
    await expect(api.get("/events")).rejects.toMatchObject({ code: "BAD_RESPONSE" });
  });
});

describe("newIdempotencyKey", () => {
  it("is fresh per attempt", () => {
    const a = newIdempotencyKey();
    const b = newIdempotencyKey();
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(a.length).toBeLessThanOrEqual(255);
  });
});

describe("encodeQueryValue", () => {
  it("escapes what a query value must not carry, and only that", () => {
    expect(encodeQueryValue("e2e@example.com")).toBe("e2e@example.com");
    expect(encodeQueryValue("a&b=c+d#e f")).toBe("a%26b%3Dc%2Bd%23e%20f");
    expect(encodeQueryValue("2026-01-01T00:00:00Z")).toBe("2026-01-01T00:00:00Z");
    expect(encodeQueryValue("café")).toBe("caf%C3%A9");
  });
});
