import { describe, expect, it, vi } from "vitest";
import { Api } from "./api";
import { Session, type KeyValueStore } from "./session";
import type { SessionData } from "./types";

class MemoryStore implements KeyValueStore {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  /** every key and value, to look for a token anywhere in the store */
  dump(): string {
    return JSON.stringify([...this.m.entries()]);
  }
}

const user = { id: "u1", email: "a@b.c", display_name: "A", roles: ["member"], email_verified: true, created_at: "" } as SessionData["user"];
const sessionData = (n: number): SessionData => ({
  access_token: `access-${n}`,
  refresh_token: `refresh-secret-${n}`,
  token_type: "Bearer",
  expires_in: 900,
  user,
});
const ok = (data: unknown) => new Response(JSON.stringify({ success: true, data }), { status: 200 });

/** A store that already holds this tab's session flag (what a reload finds). */
function storeWithSession(): MemoryStore {
  const store = new MemoryStore();
  const s = new Session(new Api(async () => ok({})), store);
  s.set(sessionData(0));
  return store;
}

describe("Session", () => {
  it("keeps the access token in memory and never stores the refresh token", () => {
    const store = new MemoryStore();
    const s = new Session(new Api(async () => ok({})), store);
    s.set(sessionData(1));
    expect(s.accessToken()).toBe("access-1");
    expect(s.loggedIn).toBe(true);
    expect(s.hasSession()).toBe(true);
    expect(store.m.size).toBe(1);
    expect(store.dump()).not.toContain("refresh-secret");
    expect(store.dump()).not.toContain("access-1");
  });

  it("removes a refresh token left in storage by the first version", () => {
    const store = new MemoryStore();
    store.setItem("souk.refresh", "refresh-secret-old");
    new Session(new Api(async () => ok({})), store);
    expect(store.dump()).not.toContain("refresh-secret");
  });

  it("restores after a reload with an empty body (the cookie carries the token)", async () => {
    const store = storeWithSession();
    const fetchFn = vi.fn(async (_u: string, _i?: RequestInit) => ok(sessionData(2)));
    const s = new Session(new Api(fetchFn), store);
    await s.restore();
    expect(fetchFn).toHaveBeenCalledTimes(1);
    const [url, init] = fetchFn.mock.calls[0]!;
    expect(url).toBe("/api/v1/auth/refresh");
    expect(init!.method).toBe("POST");
    expect(init!.credentials).toBe("same-origin");
    expect(JSON.parse(String(init!.body))).toEqual({});
    expect((init!.headers as Record<string, string>)["Authorization"]).toBeUndefined();
    expect(s.accessToken()).toBe("access-2");
    expect(s.loggedIn).toBe(true);
    expect(store.dump()).not.toContain("refresh-secret");
  });

  it("without the flag, a fresh tab does not call refresh", async () => {
    const fetchFn = vi.fn(async (_u: string, _i?: RequestInit) => ok(sessionData(2)));
    const s = new Session(new Api(fetchFn), new MemoryStore());
    await s.restore();
    expect(await s.refresh()).toBe(false);
    expect(fetchFn).not.toHaveBeenCalled();
    expect(s.loggedIn).toBe(false);
  });

  it("runs one rotation at a time (two would look like token theft)", async () => {
    const store = storeWithSession();
    let calls = 0;
    const s = new Session(
      new Api(async () => {
        calls += 1;
        await new Promise((r) => setTimeout(r, 10));
        return ok(sessionData(2));
      }),
      store,
    );
    const [a, b] = await Promise.all([s.refresh(), s.refresh()]);
    expect(a && b).toBe(true);
    expect(calls).toBe(1);
  });

  it("a refused refresh ends the session", async () => {
    const store = storeWithSession();
    const s = new Session(
      new Api(async () => new Response(JSON.stringify({ success: false, error: { code: "UNAUTHENTICATED", message: "" } }), { status: 401 })),
      store,
    );
    expect(await s.refresh()).toBe(false);
    expect(s.hasSession()).toBe(false);
    expect(store.m.size).toBe(0);
    expect(s.loggedIn).toBe(false);
  });

  it("a network failure keeps the session flag for the next try", async () => {
    const store = storeWithSession();
    const s = new Session(
      new Api(async () => {
        throw new TypeError("offline");
      }),
      store,
    );
    await s.restore();
    expect(s.hasSession()).toBe(true);
    expect(s.loggedIn).toBe(false);
  });

  it("adopts a session from the refresh cookie on a page reached from another origin", async () => {
    const store = new MemoryStore();
    const s = new Session(new Api(async () => ok(sessionData(1))), store);
    expect(s.hasSession()).toBe(false);
    expect(await s.adopt()).toBe(true);
    expect(s.loggedIn).toBe(true);
    expect(s.hasSession()).toBe(true);
  });

  it("without a cookie, adopting leaves no flag behind", async () => {
    const store = new MemoryStore();
    const refused = new Session(
      new Api(async () => new Response(JSON.stringify({ success: false, error: { code: "UNAUTHENTICATED", message: "" } }), { status: 401 })),
      store,
    );
    expect(await refused.adopt()).toBe(false);
    expect(store.m.size).toBe(0);
    const offline = new Session(
      new Api(async () => {
        throw new TypeError("offline");
      }),
      store,
    );
    expect(await offline.adopt()).toBe(false);
    expect(store.m.size).toBe(0);
  });

  it("logout revokes on the server with an empty body and forgets locally", async () => {
    const store = new MemoryStore();
    const fetchFn = vi.fn(async (_u: string, _i?: RequestInit) => ok({}));
    const s = new Session(new Api(fetchFn), store);
    s.set(sessionData(1));
    const changed = vi.fn();
    s.onChange(changed);
    await s.logout();
    const [url, init] = fetchFn.mock.calls[0]!;
    expect(url).toBe("/api/v1/auth/logout");
    expect(init!.credentials).toBe("same-origin");
    expect(JSON.parse(String(init!.body))).toEqual({});
    expect((init!.headers as Record<string, string>)["Authorization"]).toBe("Bearer access-1");
    expect(s.loggedIn).toBe(false);
    expect(s.hasSession()).toBe(false);
    expect(store.m.size).toBe(0);
    expect(changed).toHaveBeenCalled();
  });
});
