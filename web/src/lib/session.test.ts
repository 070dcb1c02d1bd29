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
}

const user = { id: "u1", email: "a@b.c", display_name: "A", roles: ["member"], email_verified: true, created_at: "" } as SessionData["user"];
const sessionData = (n: number): SessionData => ({ access_token: `a${n}`, refresh_token: `r${n}`, token_type: "Bearer", expires_in: 900, user });
const ok = (data: unknown) => new Response(JSON.stringify({ success: true, data }), { status: 200 });

describe("Session", () => {
  it("keeps the access token in memory and only the refresh token in storage", () => {
    const store = new MemoryStore();
    const s = new Session(new Api(async () => ok({})), store);
    s.set(sessionData(1));
    expect(s.accessToken()).toBe("a1");
    expect([...store.m.values()]).toEqual(["r1"]);
    expect(s.loggedIn).toBe(true);
  });

  it("restores from the stored refresh token after a reload", async () => {
    const store = new MemoryStore();
    store.setItem("souk.refresh", "r1");
    const fetchFn = vi.fn(async (_u: string, init?: RequestInit) => {
      expect(JSON.parse(String(init!.body))).toEqual({ refresh_token: "r1" });
      return ok(sessionData(2));
    });
    const s = new Session(new Api(fetchFn), store);
    await s.restore();
    expect(s.accessToken()).toBe("a2");
    expect(store.getItem("souk.refresh")).toBe("r2");
  });

  it("runs one rotation at a time (two would look like token theft)", async () => {
    const store = new MemoryStore();
    store.setItem("souk.refresh", "r1");
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
    const store = new MemoryStore();
    store.setItem("souk.refresh", "dead");
    const s = new Session(
      new Api(async () => new Response(JSON.stringify({ success: false, error: { code: "UNAUTHENTICATED", message: "" } }), { status: 401 })),
      store,
    );
    expect(await s.refresh()).toBe(false);
    expect(store.getItem("souk.refresh")).toBeNull();
    expect(s.loggedIn).toBe(false);
  });

  it("a network failure keeps the refresh token", async () => {
    const store = new MemoryStore();
    store.setItem("souk.refresh", "r1");
    const s = new Session(
      new Api(async () => {
        throw new TypeError("offline");
      }),
      store,
    );
    await s.restore();
    expect(store.getItem("souk.refresh")).toBe("r1");
  });

  it("logout revokes on the server and forgets locally", async () => {
    const store = new MemoryStore();
    const fetchFn = vi.fn(async (_u: string, _i?: RequestInit) => ok({}));
    const s = new Session(new Api(fetchFn), store);
    s.set(sessionData(1));
    const changed = vi.fn();
    s.onChange(changed);
    await s.logout();
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/v1/auth/logout");
    expect(s.loggedIn).toBe(false);
    expect(store.getItem("souk.refresh")).toBeNull();
    expect(changed).toHaveBeenCalled();
  });
});
