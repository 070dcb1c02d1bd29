// The API client: the {success, data, meta} / {success:false, error} envelope, typed errors,
// silent refresh on 401 TOKEN_EXPIRED, Retry-After on 429 and 503.

export interface Meta {
  page: number;
  per_page: number;
  total: number;
}

export interface Envelope<T> {
  data: T;
  meta?: Meta;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly requestId: string | null;
  /** seconds to wait, from Retry-After (429, 503), when given */
  readonly retryAfter: number | null;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    requestId: string | null = null,
    retryAfter: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** field -> message, from details.fields (422 VALIDATION_FAILED) */
  get fields(): Record<string, string> {
    const f = this.details["fields"];
    const out: Record<string, string> = {};
    if (f && typeof f === "object") {
      for (const [k, v] of Object.entries(f as Record<string, unknown>)) out[k] = String(v);
    }
    return out;
  }

  /** worth offering a "Try again" button */
  get retryable(): boolean {
    return this.status === 0 || this.status === 503 || this.status === 429 || this.status >= 500;
  }
}

/**
 * A query value, percent-encoded only where RFC 3986 requires it in a query (`@ : / , ; $ ? !`
 * stay readable, so an e-mail or an RFC 3339 time is sent as typed). Spaces become %20, `+`
 * becomes %2B (the server reads `+` as a space).
 */
export function encodeQueryValue(v: string): string {
  return encodeURIComponent(v).replace(/%(40|3A|2F|2C|3B|24|3F)/gi, (m) => decodeURIComponent(m));
}

/** Retry-After: delta-seconds or an HTTP date; seconds from now, or null. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** "30 seconds", "1 minute", "5 minutes", "2 hours" */
export function describeWait(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s === 1 ? "1 second" : `${s} seconds`;
  const m = Math.ceil(s / 60);
  if (m < 60) return m === 1 ? "1 minute" : `${m} minutes`;
  const hr = Math.ceil(m / 60);
  return hr === 1 ? "1 hour" : `${hr} hours`;
}

const messages: Record<string, string> = {
  INVALID_CREDENTIALS: "Wrong e-mail address or password.",
  UNAUTHENTICATED: "Please log in to continue.",
  TOKEN_EXPIRED: "Your session has ended. Please log in again.",
  FORBIDDEN: "You are not allowed to do that.",
  NOT_FOUND: "We could not find that. It may have been removed.",
  EMAIL_NOT_VERIFIED: "Confirm your e-mail address first: open the link we sent you.",
  QUEUE_PASS_REQUIRED: "This show has a waiting room: join it to book.",
  INSUFFICIENT_STOCK: "Not enough tickets left in this zone. Try a smaller quantity or another zone.",
  USER_LIMIT_EXCEEDED: "That would take you past the ticket limit per person for this event.",
  SALE_NOT_OPEN: "Ticket sales have not opened yet.",
  INVALID_STATE: "That can't be done in the current state. Reload the page to see the latest.",
  PAYMENT_REQUIRED: "This booking needs a payment before it can be confirmed.",
  RESERVATION_EXPIRED: "Your hold expired and the tickets went back on sale. Please book again.",
  VERSION_CONFLICT: "Someone else changed this meanwhile. Reload and try again.",
  IDEMPOTENCY_KEY_REUSED: "That request was already sent with different details. Please try again.",
  VALIDATION_FAILED: "Please correct the highlighted fields.",
  PAYLOAD_TOO_LARGE: "That is too large to send.",
};

/** The sentence to show a person for an error. */
export function userMessage(err: unknown): string {
  if (!(err instanceof ApiError)) {
    return "Something went wrong. Please try again.";
  }
  switch (err.code) {
    case "NETWORK":
      return "Souk could not be reached. Check your connection and try again.";
    case "RATE_LIMITED":
      return err.retryAfter !== null
        ? `Too many requests. Please wait ${describeWait(err.retryAfter)} and try again.`
        : "Too many requests. Please wait a moment and try again.";
    case "ACCOUNT_LOCKED":
      return err.retryAfter !== null
        ? `Too many failed log-ins. This account is locked for ${describeWait(err.retryAfter)}.`
        : "Too many failed log-ins. This account is locked for a while.";
    case "MFA_REQUIRED":
      return "Enter the 6-digit code from your authenticator app.";
    case "DOMAIN_NOT_ALLOWED":
    case "CONFLICT":
      // The server's own sentence says which domains are allowed / what conflicts.
      return err.message || "That is not allowed here.";
  }
  if (err.status === 503) {
    return err.retryAfter !== null
      ? `Souk is busy right now. Please try again in ${describeWait(err.retryAfter)}.`
      : "Souk is busy right now. Please try again in a moment.";
  }
  if (err.status >= 500) {
    return `Something went wrong on our side.${err.requestId ? ` (Reference: ${err.requestId})` : ""}`;
  }
  return messages[err.code] ?? (err.message || "Something went wrong. Please try again.");
}

export interface TokenSource {
  accessToken(): string | null;
  /** Gets a new access token; false when the session is gone. */
  refresh(): Promise<boolean>;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
  headers?: Record<string, string>;
  /** send the access token (default: when there is one) */
  auth?: boolean;
  signal?: AbortSignal;
}

type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export class Api {
  private readonly fetchFn: FetchFn;
  private tokens: TokenSource | null = null;

  constructor(fetchFn?: FetchFn, private readonly base = "/api/v1") {
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init));
  }

  setTokens(t: TokenSource): void {
    this.tokens = t;
  }

  url(path: string, query?: RequestOptions["query"]): string {
    let u = this.base + path;
    if (query) {
      const parts: string[] = [];
      for (const [k, v] of Object.entries(query))
        if (v !== undefined && v !== null && v !== "") parts.push(`${encodeQueryValue(k)}=${encodeQueryValue(String(v))}`);
      if (parts.length) u += `?${parts.join("&")}`;
    }
    return u;
  }

  /** A raw request (for non-JSON answers such as the ticket's SVG); errors still throw ApiError. */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const send = async (): Promise<Response> => {
      const headers: Record<string, string> = { Accept: "application/json", ...(opts.headers ?? {}) };
      const token = opts.auth === false ? null : this.tokens?.accessToken() ?? null;
      if (token) headers["Authorization"] = `Bearer ${token}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(opts.body);
      }
      try {
        return await this.fetchFn(this.url(path, opts.query), {
          method,
          headers,
          body,
          signal: opts.signal,
          credentials: "same-origin",
        });
      } catch (e) {
        if (e instanceof DOMException && e.name === "AbortError") throw e;
        throw new ApiError(0, "NETWORK", "network error");
      }
    };
    let res = await send();
    if (res.status === 401 && opts.auth !== false && this.tokens?.accessToken()) {
      const err = await toError(res.clone());
      if (err.code === "TOKEN_EXPIRED" || err.code === "UNAUTHENTICATED") {
        // Silent refresh, then the same request once more (an Idempotency-Key in opts.headers
        // makes a repeated POST safe).
        if (await this.tokens.refresh()) res = await send();
      }
    }
    if (!res.ok) throw await toError(res);
    return res;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<Envelope<T>> {
    const res = await this.raw(method, path, opts);
    const doc = (await res.json().catch(() => null)) as { success?: boolean; data?: T; meta?: Meta } | null;
    if (!doc || doc.success !== true) {
      throw new ApiError(res.status, "BAD_RESPONSE", "unexpected answer from the server");
    }
    return { data: doc.data as T, meta: doc.meta };
  }

  get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, opts).then((e) => e.data);
  }
  list<T>(path: string, opts: RequestOptions = {}): Promise<Envelope<T[]>> {
    return this.request<T[]>("GET", path, opts);
  }
  post<T>(path: string, body: unknown = {}, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", path, { ...opts, body }).then((e) => e.data);
  }
  put<T>(path: string, body: unknown = {}, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("PUT", path, { ...opts, body }).then((e) => e.data);
  }
  del<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("DELETE", path, opts).then((e) => e.data);
  }
}

/** The ApiError for a non-2xx response (envelope or not). */
export async function toError(res: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(res.headers.get("Retry-After"));
  const requestId = res.headers.get("X-Request-Id");
  let doc: { error?: { code?: string; message?: string; details?: Record<string, unknown> }; request_id?: string } | null =
    null;
  try {
    doc = await res.json();
  } catch {
    doc = null;
  }
  const e = doc?.error;
  const code = e?.code ?? (res.status === 503 ? "UNAVAILABLE" : res.status === 429 ? "RATE_LIMITED" : `HTTP_${res.status}`);
  return new ApiError(
    res.status,
    code,
    e?.message ?? res.statusText ?? "",
    e?.details ?? {},
    doc?.request_id ?? requestId,
    retryAfter,
  );
}

/** A fresh Idempotency-Key for one user attempt. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // Older browsers on plain HTTP (randomUUID needs a secure context): 128 random bits.
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
