// The session: the access token lives only in memory; the refresh token in sessionStorage so a
// reload of this tab keeps the session (see docs/decisions/0008: an HttpOnly cookie set by the
// server is the target, which needs the API change described there).

import { Api, ApiError, type TokenSource } from "./api";
import type { Role, SessionData, User } from "./types";

const REFRESH_KEY = "souk.refresh";

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
  hasRefreshToken(): boolean {
    return this.store.getItem(REFRESH_KEY) !== null;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  /** Takes a login / refresh / password-change answer. */
  set(s: SessionData): void {
    this.access = s.access_token;
    this.current = s.user;
    this.store.setItem(REFRESH_KEY, s.refresh_token);
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
    this.store.removeItem(REFRESH_KEY);
    if (had) this.emit();
  }

  /**
   * Rotates the refresh token. One at a time: two concurrent rotations of the same token would
   * look like theft to the server (reuse detection revokes the whole family).
   */
  refresh(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    const token = this.store.getItem(REFRESH_KEY);
    if (!token) return Promise.resolve(false);
    this.inflight = this.api
      .post<SessionData>("/auth/refresh", { refresh_token: token }, { auth: false })
      .then((s) => {
        this.set(s);
        return true;
      })
      .catch((e: unknown) => {
        // A dead or unknown token ends the session; a network failure keeps it for a retry.
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

  /** On start: a refresh token left by this tab opens the session again. */
  async restore(): Promise<void> {
    if (!this.hasRefreshToken()) return;
    try {
      await this.refresh();
    } catch {
      // offline: stay logged out in memory, keep the token for the next try
    }
  }

  async logout(): Promise<void> {
    const token = this.store.getItem(REFRESH_KEY);
    try {
      if (token && this.access) await this.api.post("/auth/logout", { refresh_token: token });
    } catch {
      // the local session ends whatever the server said
    } finally {
      this.clear();
    }
  }
}
