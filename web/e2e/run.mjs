// End-to-end test of the web app embedded in the real `souk` binary, in Debian's Chromium driven
// by playwright-core (never a downloaded browser).
//
//   SOUK_BIN=build/asan/souk node web/e2e/run.mjs
//
// Env: SOUK_BIN (required), CHROMIUM (default /usr/bin/chromium), E2E_OUT (screenshots; default
// build/e2e-screenshots), E2E_ONLY (comma-separated scenario names). Exit 77 when Chromium is
// absent (CTest's SKIP_RETURN_CODE), 1 on any failure.

import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const OUT = resolve(process.env.E2E_OUT || join(ROOT, "build/e2e-screenshots"));
const ONLY = (process.env.E2E_ONLY || "").split(",").filter(Boolean);
const TIMEOUT = 20_000;

if (!existsSync(CHROMIUM)) {
  console.log(`SKIP: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  process.exit(77);
}
const SOUK_BIN = process.env.SOUK_BIN;
if (!SOUK_BIN || !existsSync(SOUK_BIN)) {
  console.error("e2e: set SOUK_BIN to the souk binary");
  process.exit(1);
}
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

rmSync(OUT, { recursive: true, force: true }); // this run's screenshots only
mkdirSync(OUT, { recursive: true });
const dataDir = mkdtempSync(join(tmpdir(), "souk-e2e-"));
const profileDir = mkdtempSync(join(tmpdir(), "souk-e2e-chromium-"));
const expiryDir = mkdtempSync(join(tmpdir(), "souk-e2e-expiry-"));

// ---- the server ------------------------------------------------------------------------------

function childEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("SOUK_")) delete env[k]; // config to souk
  env.ASAN_OPTIONS ??= "detect_leaks=0";
  return env;
}

function runDemo(dir) {
  const r = spawnSync(SOUK_BIN, ["demo", "--env", "test", "--set", `data_dir=${dir}`], {
    env: childEnv(),
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`souk demo failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
}

const servers = [];
/** `souk serve --env test` on ephemeral ports; resolves to its plain-HTTP base URL. */
function startServer(dir, sets = [], httpPort = 0) {
  return new Promise((resolveStart, reject) => {
    const args = ["serve", "--env", "test", "--set", `data_dir=${dir}`, "--set", `server.http_port=${httpPort}`, "--set", "server.https_port=0"];
    for (const kv of sets) args.push("--set", kv);
    const p = spawn(SOUK_BIN, args, { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
    const srv = { proc: p, stderr: "" };
    servers.push(srv);
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`souk serve did not start:\n${srv.stderr}`)), 60_000);
    p.stderr.on("data", (d) => (srv.stderr += d));
    p.stdout.on("data", (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"msg":"listening"')) {
          try {
            const doc = JSON.parse(line);
            clearTimeout(timer);
            resolveStart(`http://127.0.0.1:${doc.http_port}`);
          } catch (e) {
            reject(e);
          }
        }
      }
    });
    p.on("exit", (code) => reject(new Error(`souk serve exited with ${code}:\n${srv.stderr}`)));
  });
}

/** A TCP port free right now on 127.0.0.1. */
function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function stopServers() {
  let report = "";
  for (const srv of servers) {
    const p = srv.proc;
    if (p.exitCode === null && p.signalCode === null) {
      const done = new Promise((r) => p.on("exit", r));
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 15_000);
      await done;
      clearTimeout(t);
    }
    if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(srv.stderr)) report += srv.stderr;
  }
  return report;
}

// ---- helpers -----------------------------------------------------------------------------------

const results = [];
const problems = []; // CSP violations and page errors, collected per page

function watch(page, name) {
  page.on("console", (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to (load|execute|apply)/i.test(t)) problems.push(`[${name}] CSP: ${t}`);
  });
  page.on("pageerror", (e) => problems.push(`[${name}] page error: ${e.message}`));
}

async function axeCheck(page, label) {
  // Evaluated through the DevTools protocol (not an inline <script>), so the page's CSP stays on.
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  const bad = r.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of r.filter((v) => !bad.includes(v))) console.log(`  axe (${label}) ${v.impact}: ${v.id} — ${v.help} ${JSON.stringify(v.nodes)}`);
  if (bad.length) throw new Error(`axe on ${label}: ${bad.map((v) => `${v.impact} ${v.id} (${v.help}) at ${JSON.stringify(v.nodes)}`).join("; ")}`);
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: join(OUT, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/** The heading of the page, once the router has rendered it. */
async function heading(page, text, { timeout = TIMEOUT } = {}) {
  await page.getByRole("heading", { level: 1, name: text }).waitFor({ timeout });
}

function mailFor(email) {
  const dir = join(dataDir, "mailbox");
  if (!existsSync(dir)) return null;
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".eml")).sort()) {
    const text = readFileSync(join(dir, f), "utf8");
    if (text.toLowerCase().includes(email.toLowerCase())) return text;
  }
  return null;
}

async function waitFor(fn, what, ms = TIMEOUT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) from a base32 secret.
function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of s.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  const n = ((mac[o] & 0x7f) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3];
  return String(n % 1_000_000).padStart(6, "0");
}

async function login(page, base, email, password) {
  await page.goto(`${base}/login`);
  await heading(page, "Log in");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: TIMEOUT });
}

async function logout(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("link", { name: "Log in" }).waitFor({ timeout: TIMEOUT });
}

/** On the simulated PSP's hosted page (served by souk at /psp/checkout/{id}): pay with a test card. */
async function payOnPspPage(page, card, label) {
  await page.waitForURL(/\/psp\/checkout\//, { timeout: TIMEOUT });
  await page.locator("#card-number").waitFor({ timeout: TIMEOUT });
  await screenshot(page, `psp-${label}`);
  await page.locator("#card-name").fill("E2E Tester");
  await page.locator("#card-number").fill(card);
  await page.locator("#card-expiry").fill("12/34");
  await page.locator("#card-cvc").fill("123");
  await page.getByRole("button", { name: /^Pay/ }).click();
  // 303 back to the app's /checkout/return?payment_id=...&booking_id=...&result=...
  await page.waitForURL(/\/checkout\/return\?/, { timeout: TIMEOUT });
}

/** The page as it is, on a phone-sized screen: no sideways scrolling, axe, a screenshot. */
async function phoneCheck(page, label) {
  await page.setViewportSize({ width: 375, height: 740 });
  try {
    const wide = await page.evaluate(() => {
      if (document.documentElement.scrollWidth <= window.innerWidth + 1) return null;
      const out = [];
      for (const el of document.querySelectorAll("body *")) {
        const r = el.getBoundingClientRect();
        if (r.right > window.innerWidth + 1) out.push(`${el.tagName.toLowerCase()}.${el.className} (right edge at ${Math.round(r.right)} px)`);
      }
      return out.slice(0, 8).join(", ");
    });
    if (wide !== null) throw new Error(`${label}: the page scrolls sideways on a phone-sized screen: ${wide}`);
    await axeCheck(page, `${label} (phone)`);
    await screenshot(page, `${label}-phone`);
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
}

/** Reserves `quantity` tickets in a zone of an event's first show; ends on the checkout page. */
async function reservePaid(page, base, slug, title, zone, quantity = 1) {
  await page.goto(`${base}/events/${slug}`);
  await heading(page, title);
  await page.getByRole("link", { name: "Book", exact: true }).first().click();
  await heading(page, `Book tickets for ${title}`);
  await page.getByLabel(new RegExp(`^${zone}`)).check();
  await page.getByLabel("Number of tickets").selectOption(String(quantity));
  await page.getByRole("button", { name: "Reserve" }).click();
  await heading(page, "Checkout");
  await page.locator("#main").getByText("Your hold ends in").first().waitFor({ timeout: TIMEOUT });
}

// The second server's base URL (holds of 4 seconds), once the expiry scenario has started it.
let expiryBase = null;

// ---- scenarios ---------------------------------------------------------------------------------

const member = {
  email: `e2e-${Date.now().toString(36)}@example.com`,
  password: "e2e-password-2026",
  name: "E2E Tester",
};

const scenarios = [
  [
    "static: CSP headers, hashed immutable assets, SPA fallback",
    async ({ base }) => {
      const res = await fetch(`${base}/events/anything/deep`);
      const html = await res.text();
      if (res.status !== 200 || !html.includes('id="app"')) throw new Error("SPA fallback did not serve index.html");
      const csp = res.headers.get("content-security-policy") || "";
      if (!csp.includes("script-src 'self'")) throw new Error(`no strict CSP: ${csp}`);
      const m = html.match(/\/assets\/index-[0-9a-f]{12}\.js/);
      if (!m) throw new Error(`the binary does not embed the built app (index.html: ${html.slice(0, 300)})`);
      if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html) || /\sstyle=/i.test(html)) throw new Error("inline script or style in index.html");
      const js = await fetch(`${base}${m[0]}`);
      if (!/immutable/.test(js.headers.get("cache-control") || "")) throw new Error("hashed asset is not immutable");
    },
  ],
  [
    "sign up with field errors, verify by mail, log in",
    async ({ page, base }) => {
      await page.goto(`${base}/`);
      await heading(page, "Find an event");
      // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => document.activeElement?.textContent)) !== "Skip to content") throw new Error("the skip link is not first in the tab order");
      await page.keyboard.press("Enter");
      if ((await page.evaluate(() => document.activeElement?.id)) !== "main") throw new Error("the skip link does not move focus to main");
      await axeCheck(page, "home");
      await screenshot(page, "home");
      await page.getByRole("link", { name: "Sign up" }).click();
      await heading(page, "Create your account");
      await page.getByLabel("Your name").fill(member.name);
      await page.getByLabel("E-mail address").fill(member.email);
      await page.getByLabel("Password").fill("short");
      await page.getByRole("button", { name: "Sign up" }).click();
      await page.locator("#main").getByText("Use at least 10 characters.", { exact: false }).first().waitFor({ timeout: TIMEOUT });
      if ((await page.getByLabel("Password").getAttribute("aria-invalid")) !== "true") throw new Error("password not marked invalid");
      await axeCheck(page, "sign-up with errors");
      await screenshot(page, "signup-errors");
      await page.getByLabel("Password").fill(member.password);
      await page.getByRole("button", { name: "Sign up" }).click();
      await heading(page, "Check your inbox");
      await screenshot(page, "signup-done");

      const mail = await waitFor(() => mailFor(member.email), "the verification mail");
      const link = mail.replace(/=\r?\n/g, "").match(/\/verify-email\?token=([A-Za-z0-9_\-.%]+)/);
      if (!link) throw new Error(`no verification link in the mail:\n${mail}`);
      await page.goto(`${base}/verify-email?token=${link[1]}`);
      await heading(page, "Confirm your e-mail address");
      await page.locator("#main").getByText("Your e-mail address is confirmed").first().waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "verify e-mail");
      await screenshot(page, "verified");

      await page.getByRole("link", { name: "Log in" }).first().click();
      await heading(page, "Log in");
      await page.getByLabel("E-mail address").fill(member.email);
      await page.getByLabel("Password").fill("wrong-password-123");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.locator("#main").getByText("Wrong e-mail address or password.").first().waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "log in with error");
      await page.getByLabel("Password").fill(member.password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: TIMEOUT });
      await heading(page, "Find an event");
    },
  ],
  [
    "find Campus Jazz Night, book 1 Standing, confirm, ticket QR",
    async ({ page, base }) => {
      await page.getByLabel("Search events").fill("Jazz");
      await page.getByRole("button", { name: "Search" }).click();
      await page.getByRole("link", { name: "Campus Jazz Night" }).click();
      await heading(page, "Campus Jazz Night");
      await page.getByRole("table").first().waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "event");
      await screenshot(page, "event");
      await page.getByRole("link", { name: "Book", exact: true }).first().click();
      await heading(page, "Book tickets for Campus Jazz Night");
      await page.getByLabel(/^Standing/).check();
      await page.getByLabel("Number of tickets").selectOption("1");
      await axeCheck(page, "zone and quantity");
      await screenshot(page, "book");
      await page.getByRole("button", { name: "Reserve" }).click();
      await heading(page, /Your booking/);
      await page.locator("#main").getByText("Your hold ends in").first().waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "booking held");
      await screenshot(page, "booking-held");
      await page.getByRole("button", { name: "Confirm" }).click();
      const img = page.getByRole("img", { name: /QR code of your ticket/ });
      await img.waitFor({ timeout: TIMEOUT });
      await waitFor(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), "the QR image to load");
      const src = await img.getAttribute("src");
      if (!src.startsWith("data:image/svg+xml")) throw new Error(`QR not a data: URL: ${src.slice(0, 40)}`);
      await page.getByRole("link", { name: "Download ticket (SVG)" }).waitFor();
      const ics = page.getByRole("link", { name: "Add to calendar (.ics)" });
      if ((await ics.getAttribute("download")) !== "campus-jazz-night.ics") throw new Error("ICS link has the wrong file name");
      const [download] = await Promise.all([page.waitForEvent("download"), ics.click()]);
      const icsText = readFileSync(await download.path(), "utf8");
      if (!icsText.includes("BEGIN:VEVENT") || !icsText.includes("SUMMARY:Campus Jazz Night")) throw new Error(`bad ICS:\n${icsText}`);
      await axeCheck(page, "ticket");
      await screenshot(page, "ticket");
    },
  ],
  [
    "a reload keeps the session; my bookings lists the ticket",
    async ({ page, base }) => {
      await page.reload();
      await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: TIMEOUT });
      await page.goto(`${base}/bookings`);
      await heading(page, "My bookings");
      await page.getByRole("link", { name: "Campus Jazz Night" }).first().waitFor({ timeout: TIMEOUT });
      await page.locator("#main").getByText("Confirmed").first().waitFor();
      await axeCheck(page, "my bookings");
      await screenshot(page, "my-bookings");
    },
  ],
  [
    "pay for a Balcony seat with 4242 on the PSP page: confirmation with the ticket QR",
    async ({ page, base }) => {
      await reservePaid(page, base, "campus-jazz-night", "Campus Jazz Night", "Balcony");
      await page.getByRole("heading", { name: "Your order" }).waitFor();
      await page.locator("#main").getByText("Balcony").first().waitFor();
      await axeCheck(page, "checkout (Balcony)");
      await screenshot(page, "checkout-balcony");
      await phoneCheck(page, "checkout");
      await page.getByRole("button", { name: /^Pay \$15\.00/ }).click();
      await payOnPspPage(page, "4242 4242 4242 4242", "4242");
      await heading(page, "Booking confirmed", { timeout: 45_000 }).catch(async (e) => {
        throw new Error(`${e.message}\n${await page.locator("#main").innerText()}`);
      });
      await page.locator("#main").getByText("Payment of $15.00 received").first().waitFor();
      const img = page.getByRole("img", { name: /QR code of your ticket for Campus Jazz Night/ });
      await img.waitFor({ timeout: TIMEOUT });
      await waitFor(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), "the QR image to load");
      await page.getByRole("link", { name: "Download ticket (SVG)" }).waitFor();
      const ics = page.getByRole("link", { name: "Add to calendar (.ics)" });
      if ((await ics.getAttribute("download")) !== "campus-jazz-night.ics") throw new Error("ICS link has the wrong file name");
      await axeCheck(page, "payment confirmed");
      await screenshot(page, "payment-confirmed");
      await phoneCheck(page, "payment-confirmed");
    },
  ],
  [
    "declined card: resume payment from My bookings, 4000…0002, seats released",
    async ({ page, base }) => {
      await reservePaid(page, base, "indie-film-festival", "Indie Film Festival", "General admission", 2);
      // Leave the checkout, and come back to it from My bookings.
      await page.getByRole("link", { name: "My bookings" }).click();
      await heading(page, "My bookings");
      const resume = page.getByRole("button", { name: "Resume payment" });
      await resume.first().waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "my bookings with a pending payment");
      await screenshot(page, "resume-payment");
      await resume.first().click();
      await payOnPspPage(page, "4000 0000 0000 0002", "declined");
      await heading(page, "Payment declined", { timeout: 45_000 });
      await page.locator("#main").getByText("Your card was declined").first().waitFor();
      await page.locator("#main").getByText("Your seats were released").first().waitFor();
      await axeCheck(page, "payment declined");
      await screenshot(page, "payment-declined");
      await page.getByRole("link", { name: "Book again" }).click();
      await heading(page, "Indie Film Festival");
    },
  ],
  [
    "a card that succeeds late (4000…3063): the return page waits, then confirms",
    async ({ page, base }) => {
      await reservePaid(page, base, "indie-film-festival", "Indie Film Festival", "General admission");
      await page.getByRole("button", { name: /^Pay \$8\.00/ }).click();
      await payOnPspPage(page, "4000 0000 0000 3063", "late");
      await heading(page, "Checking your payment");
      await page.locator("#main").getByText("Your bank is taking a little longer", { exact: false }).first().waitFor();
      await axeCheck(page, "payment processing");
      await screenshot(page, "payment-processing");
      await heading(page, "Booking confirmed", { timeout: 45_000 });
      await page.getByRole("img", { name: /QR code of your ticket for Indie Film Festival/ }).waitFor({ timeout: TIMEOUT });
    },
  ],
  [
    "waiting room on The Rushes — Live, then a paid hold",
    async ({ page, base }) => {
      await page.goto(`${base}/events/the-rushes-live`);
      await heading(page, "The Rushes — Live");
      await page.locator("#main").getByText("Waiting room").first().waitFor({ timeout: TIMEOUT });
      await page.getByRole("link", { name: "Book", exact: true }).first().click();
      await heading(page, "Book tickets for The Rushes — Live");
      await page.getByRole("heading", { name: "Waiting room" }).waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "waiting room");
      await screenshot(page, "waiting-room");
      await page.locator("#main").getByText("It's your turn!").first().waitFor({ timeout: 60_000 });
      await page.getByLabel(/^Seats/).check();
      await page.getByLabel("Number of tickets").selectOption("2");
      await screenshot(page, "queue-ready");
      await page.getByRole("button", { name: "Reserve" }).click();
      // A paid hold opens the checkout: the order, the hold's countdown, "Pay".
      await heading(page, "Checkout");
      await page.locator("#main").getByText("Your hold ends in").first().waitFor({ timeout: TIMEOUT });
      await page.getByRole("button", { name: /^Pay / }).waitFor();
      await axeCheck(page, "checkout");
      await screenshot(page, "checkout");
      page.once("dialog", (d) => d.accept());
      await page.getByRole("button", { name: "Cancel booking" }).click();
      await page.locator("#main").getByText("This booking was cancelled.").first().waitFor({ timeout: TIMEOUT });
    },
  ],
  [
    "phone-sized event page",
    async ({ page, base }) => {
      await page.setViewportSize({ width: 375, height: 740 });
      await page.goto(`${base}/events/campus-jazz-night`);
      await heading(page, "Campus Jazz Night");
      await page.getByRole("table").first().waitFor({ timeout: TIMEOUT });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      if (overflow) throw new Error("the page scrolls sideways on a phone-sized screen");
      await axeCheck(page, "event (phone)");
      await screenshot(page, "event-phone");
      await page.setViewportSize({ width: 1280, height: 800 });
    },
  ],
  [
    "a hold that expires sends the user back with a clear message",
    async ({ page }) => {
      // A second server whose holds last 4 seconds.
      runDemo(expiryDir);
      // ... and whose access tokens last 3 seconds: the app must refresh them silently.
      // Reached as `localhost`, not 127.0.0.1: cookies are scoped by host, not port, so on the
      // same host this server's souk_refresh cookie would replace the first server's and end
      // that session (docs/decisions/0009).
      const base2 = (expiryBase = (
        await startServer(expiryDir, ["booking.hold_seconds=4", "identity.access_token_seconds=3"])
      ).replace("//127.0.0.1:", "//localhost:"));
      await login(page, base2, "member@souk.test", "member-demo-2026");
      await page.goto(`${base2}/events/campus-jazz-night`);
      await page.getByRole("link", { name: "Book", exact: true }).first().click();
      await heading(page, "Book tickets for Campus Jazz Night");
      await page.getByLabel(/^Standing/).check();
      await page.getByRole("button", { name: "Reserve" }).click();
      await page.locator("#main").getByText("Your hold ends in").first().waitFor({ timeout: TIMEOUT });
      await page.locator("#main").getByText("Your hold expired and the tickets went back on sale.").first().waitFor({ timeout: 15_000 });
      if (await page.getByRole("button", { name: "Confirm" }).count()) throw new Error("Confirm still offered after expiry");
      await axeCheck(page, "expired hold");
      await screenshot(page, "hold-expired");
      await page.getByRole("link", { name: "Book again" }).click();
      await heading(page, "Campus Jazz Night");
      // Without a reload: the access token is stale by now, the next call gets 401
      // TOKEN_EXPIRED, and the app rotates the refresh token and carries on.
      let refreshed = 0;
      const onResponse = (r) => {
        if (r.url().endsWith("/api/v1/auth/refresh") && r.status() === 200) refreshed += 1;
      };
      page.on("response", onResponse);
      await new Promise((r) => setTimeout(r, 3500));
      await page.getByRole("link", { name: "My bookings" }).click();
      await heading(page, "My bookings");
      await page.locator("#main").getByText("Expired").first().waitFor({ timeout: TIMEOUT });
      page.off("response", onResponse);
      if (refreshed < 1) throw new Error("no silent refresh happened");
      await page.getByRole("button", { name: "Log out" }).waitFor();
    },
  ],
  [
    "a paid hold that expires on the checkout page goes back to the event with a message",
    async ({ page }) => {
      await reservePaid(page, expiryBase, "campus-jazz-night", "Campus Jazz Night", "Balcony");
      await heading(page, "Campus Jazz Night", { timeout: 15_000 });
      await page.getByRole("alert").filter({ hasText: "Your hold expired before the payment was made" }).waitFor({ timeout: TIMEOUT });
      if (!new URL(page.url()).pathname.startsWith("/events/campus-jazz-night")) throw new Error(`not back on the event: ${page.url()}`);
      await axeCheck(page, "event after an expired checkout");
      await screenshot(page, "checkout-expired");
    },
  ],
  [
    "organizer creates an event with a show and a zone, and publishes it",
    async ({ page, base }) => {
      await page.goto(`${base}/`);
      await logout(page);
      await login(page, base, "organizer@souk.test", "organizer-demo-2026");
      await page.getByRole("link", { name: "Organizer" }).click();
      await heading(page, "Your events");
      await axeCheck(page, "organizer home");
      await page.getByRole("link", { name: "Create an event" }).click();
      await heading(page, "Create an event");
      const title = `E2E Gala ${Date.now().toString(36)}`;
      await page.getByLabel("Title").fill(title);
      await page.getByLabel("Venue").fill("Test Hall");
      await page.getByLabel("Starts").fill("2031-06-01T19:00");
      await page.getByLabel("Ticket sales open").fill("2026-01-01T09:00");
      await page.getByLabel("Tickets per person (limit)").fill("3");
      await axeCheck(page, "new event form");
      await page.getByRole("button", { name: "Create draft" }).click();
      await heading(page, `Manage: ${title}`);
      await page.getByRole("button", { name: "Add show" }).click();
      await page.getByRole("heading", { level: 3, name: /2031/ }).waitFor({ timeout: TIMEOUT });
      await page.getByLabel("Zone name").fill("Floor");
      await page.getByLabel(/^Price/).fill("0");
      await page.getByLabel("Capacity").fill("50");
      await page.getByRole("button", { name: "Add zone" }).click();
      await page.getByRole("rowheader", { name: "Floor" }).waitFor({ timeout: TIMEOUT });
      await page.getByRole("button", { name: "Publish" }).click();
      await page.getByRole("link", { name: "See the public page" }).waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "manage event");
      await screenshot(page, "organizer-manage");
      await page.getByRole("link", { name: "See the public page" }).click();
      await heading(page, title);
      await page.getByRole("rowheader", { name: "Floor" }).waitFor({ timeout: TIMEOUT });
      await logout(page);
    },
  ],
  [
    "organizer: balance after the sale, request payouts (field error first)",
    async ({ page, base }) => {
      await login(page, base, "organizer@souk.test", "organizer-demo-2026");
      await page.getByRole("link", { name: "Balance" }).click();
      await heading(page, "Balance and payouts");
      // The Balcony sale is available at once (payments.escrow_release=on_payment).
      const amount = page.getByLabel(/^Amount/);
      await waitFor(async () => {
        if (await amount.count()) return true;
        await page.reload();
        await heading(page, "Balance and payouts");
        return false;
      }, "an available balance", 30_000);
      await page.locator("#main").getByText("Sale").first().waitFor();
      await amount.fill("100000");
      await page.getByRole("button", { name: "Request payout" }).click();
      await page.locator("#main").getByText("more than your available balance", { exact: false }).first().waitFor();
      if ((await amount.getAttribute("aria-invalid")) !== "true") throw new Error("amount not marked invalid");
      await axeCheck(page, "balance with a field error");
      await screenshot(page, "payout-field-error");
      for (const v of ["10", "3"]) {
        await amount.fill(v);
        await page.getByRole("button", { name: "Request payout" }).click();
        await page.locator("#main").getByText(`Payout of $${v}.00 requested.`).first().waitFor({ timeout: TIMEOUT });
      }
      await page.getByRole("cell", { name: "Awaiting approval" }).first().waitFor();
      await axeCheck(page, "balance and payouts");
      await screenshot(page, "balance");
      await phoneCheck(page, "balance");
      await logout(page);
    },
  ],
  [
    "admin: MFA set up from the QR page, log in with the TOTP step, grant a role",
    async ({ page, base }) => {
      await login(page, base, "admin@souk.test", "admin-demo-2026");
      // Staff routes need a session opened with a second factor (docs/decisions/0006).
      await page.getByRole("link", { name: "Admin" }).click();
      await heading(page, "Users and roles");
      await page.locator("#main").getByText("need a session opened with two-step verification", { exact: false }).first().waitFor();
      await page.getByRole("link", { name: "Go to your profile" }).click();
      await heading(page, "Your profile");
      await axeCheck(page, "profile");
      await page.getByRole("button", { name: "Set up two-step verification" }).click();
      await page.getByRole("img", { name: "QR code for your authenticator app" }).waitFor({ timeout: TIMEOUT });
      const secret = (await page.locator("code.secret").textContent()).trim();
      await axeCheck(page, "MFA setup");
      await screenshot(page, "mfa-setup");
      await page.getByLabel("Code from the app").fill(totp(secret));
      await page.getByRole("button", { name: "Turn on" }).click();
      await page.locator("#main").getByText("Two-step verification is on.").first().waitFor({ timeout: TIMEOUT });
      await logout(page);
      // A code is good once: the log-in needs the next 30-second step.
      const step = Math.floor(Date.now() / 30000);
      await page.goto(`${base}/login`);
      await page.getByLabel("E-mail address").fill("admin@souk.test");
      await page.getByLabel("Password").fill("admin-demo-2026");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Authentication code").waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "log in: TOTP step");
      await screenshot(page, "login-totp");
      await waitFor(() => Math.floor(Date.now() / 30000) > step, "the next TOTP step", 35_000);
      await page.getByLabel("Authentication code").fill(totp(secret));
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: TIMEOUT });

      await page.getByRole("link", { name: "Admin" }).click();
      await heading(page, "Users and roles");
      await page.getByLabel("Search by e-mail or name").fill(member.email);
      await page.getByRole("button", { name: "Search" }).click();
      const row = page.locator("li.user-row", { hasText: member.email });
      await row.waitFor({ timeout: TIMEOUT });
      await row.getByLabel("organizer").check();
      await row.getByRole("button", { name: "Save roles" }).click();
      await row.getByText(`Roles of ${member.email} saved.`).waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "admin users");
      await screenshot(page, "admin-users");
    },
  ],
  [
    "admin: deny a payout (a reason is needed), approve another",
    async ({ page }) => {
      await page.getByRole("link", { name: "Payouts" }).click();
      await heading(page, "Payouts");
      // Rows are named "<amount> to <e-mail or user id>".
      const row = (amount) => page.locator("li.payout-row", { has: page.getByRole("heading", { name: new RegExp(`^\\${amount} to `) }) });
      await row("$3.00").waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "admin payouts");
      await screenshot(page, "admin-payouts");
      await row("$3.00").getByRole("button", { name: "Deny" }).click();
      await row("$3.00").getByText("Enter a reason for denying").waitFor();
      await row("$3.00").getByLabel("Reason").fill("Test payout, not needed");
      page.once("dialog", (d) => d.accept());
      await row("$3.00").getByRole("button", { name: "Deny" }).click();
      await row("$3.00").getByText("Denied: $3.00 went back").waitFor({ timeout: TIMEOUT });
      await row("$10.00").getByRole("button", { name: "Approve" }).click();
      await row("$10.00").getByText(/^Approved: \$10\.00 to .* is on its way\.$/).waitFor({ timeout: TIMEOUT });
      await axeCheck(page, "admin payouts decided");
      await screenshot(page, "admin-payouts-decided");
      await phoneCheck(page, "admin-payouts");
      await logout(page);
    },
  ],
  [
    "the member's new role shows at their next log-in",
    async ({ page, base }) => {
      await login(page, base, member.email, member.password);
      await page.getByRole("link", { name: "Organizer" }).waitFor({ timeout: TIMEOUT });
    },
  ],
];

// ---- main ----------------------------------------------------------------------------------------

let context = null;
let code = 0;
try {
  runDemo(dataDir);
  // Sales move to the organizer's available balance right at payment (not a day after the show), so the
  // payout scenarios have money to pay out. The PSP page returns the browser to the public URL:
  // the plain-HTTP origin the browser uses (else the https one, another origin).
  const port = await freePort();
  const base = await startServer(
    dataDir,
    [
      "payments.escrow_release=on_payment",
      "payments.escrow_release_delay_seconds=0",
      "payments.psp.late_success_seconds=3", // the "succeeds late" test card
      `server.public_url=http://127.0.0.1:${port}/`,
    ],
    port,
  );
  console.log(`e2e: souk at ${base}, data in ${dataDir}, screenshots in ${OUT}`);
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
    viewport: { width: 1280, height: 800 },
    locale: "en-US",
    timezoneId: "UTC",
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  watch(page, "main");
  let broken = false;
  for (const [name, fn] of scenarios) {
    if (ONLY.length && !ONLY.some((o) => name.includes(o))) continue;
    if (broken) {
      results.push([name, "skipped (an earlier step failed)"]);
      continue;
    }
    const t0 = Date.now();
    try {
      const before = problems.length;
      await fn({ page, base });
      if (problems.length > before) throw new Error(problems.slice(before).join("\n"));
      results.push([name, null]);
      console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.push([name, e]);
      console.log(`FAIL ${name}: ${e.stack || e}`);
      await screenshot(page, "failure").catch(() => {});
      broken = true;
    }
  }
} catch (e) {
  console.log(`FAIL setup: ${e.stack || e}`);
  code = 1;
} finally {
  await context?.close().catch(() => {});
  const report = await stopServers();
  if (report) {
    console.log(`FAIL sanitizer report from souk serve:\n${report}`);
    code = 1;
  }
  rmSync(profileDir, { recursive: true, force: true });
  if (code === 0) for (const d of [dataDir, expiryDir]) rmSync(d, { recursive: true, force: true });
}

const failed = results.filter(([, e]) => e && !(typeof e === "string")).length;
const skipped = results.filter(([, e]) => typeof e === "string").length;
const passed = results.length - failed - skipped;
if (failed || skipped) code = 1;
console.log(`e2e: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code);
