// The session: the access token lives only in memory; the refresh token only in the server's
// HttpOnly `souk_refresh` cookie (docs/decisions/0009), which no script can read. sessionStorage
// holds just a "there is a session" flag so a reload of this tab knows to try a refresh; refresh
// and logout send an empty body and the browser adds the cookie.

import { Api, ApiError, type TokenSource } from "./api";
import type { Role, SessionData, User } from "./types";

/** A flag, not a secret: "1" while this tab has a session. */
const SESSION_KEY = "souk.session";
/** Where the first SPA version kept the refresh token itself; removed on start. */
const LEGACY_REFRESH_KEY = "souk.refresh";

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class Session implements TokenSource {
  private access: string | null = null;
  private current: User | null = null;
  private inflight: Promise<boolean> | null = null;
  private listeners = new Set<() => void>();

  constructor(
    private readonly api: Api,
    private readonly store: KeyValueStore,
  ) {
    api.setTokens(this);
    store.removeItem(LEGACY_REFRESH_KEY);
  }

  get user(): User | null {
    return this.current;
  }
  get loggedIn(): boolean {
    return this.current !== null && this.access !== null;
  }
  hasRole(r: Role): boolean {
    return this.current?.roles.includes(r) ?? false;
  }
  accessToken(): string | null {
    return this.access;
  }
  /** This tab had a session (the refresh cookie may still be valid). */
  hasSession(): boolean {
    return this.store.getItem(SESSION_KEY) !== null;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * Takes a login / refresh / password-change answer. Its refresh_token is ignored on purpose:
   * the same answer set it as an HttpOnly cookie.
   */
  set(s: SessionData): void {
    this.access = s.access_token;
    this.current = s.user;
    this.store.setItem(SESSION_KEY, "1");
    this.emit();
  }

  setUser(u: User): void {
    this.current = u;
    this.emit();
  }

  clear(): void {
    const had = this.access !== null || this.current !== null;
    this.access = null;
    this.current = null;
    this.store.removeItem(SESSION_KEY);
    if (had) this.emit();
  }

  /**
   * Rotates the refresh token (the cookie; the body is empty). One at a time: two concurrent
   * rotations of the same token would look like theft to the server (reuse detection revokes
   * the whole family).
   */
  refresh(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    if (!this.hasSession()) return Promise.resolve(false);
    this.inflight = this.api
      .post<SessionData>("/auth/refresh", {}, { auth: false })
      .then((s) => {
        this.set(s);
        return true;
      })
      .catch((e: unknown) => {
        // A dead, unknown or missing cookie ends the session; a network failure keeps the flag
        // for a retry.
        if (e instanceof ApiError && (e.status === 401 || e.status === 400 || e.status === 422)) {
          this.clear();
          return false;
        }
        throw e;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  /** On start: if this tab had a session, the refresh cookie opens it again. */
  async restore(): Promise<void> {
    if (!this.hasSession()) return;
    try {
      await this.refresh();
    } catch {
      // offline: stay logged out in memory, keep the flag for the next try
    }
  }

  /**
   * For a page reached from another origin of this site, whose sessionStorage this tab's flag is
   * not in (the payment page returns to the server's public URL, which may be https:// where the
   * person browsed http://): the refresh cookie, sent to every port of the host, may still open
   * the session. False when there is none (and then no flag is left behind).
   */
  async adopt(): Promise<boolean> {
    if (this.loggedIn) return true;
    this.store.setItem(SESSION_KEY, "1");
    try {
      return await this.refresh();
    } catch {
      this.store.removeItem(SESSION_KEY);
      return false;
    }
  }

  async logout(): Promise<void> {
    try {
      // The server revokes the cookie's token and clears the cookie.
      if (this.hasSession() && this.access) await this.api.post("/auth/logout", {});
    } catch {
      // the local session ends whatever the server said
    } finally {
      this.clear();
    }
  }
}
