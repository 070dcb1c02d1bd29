// Sign up, log in (with the TOTP step), e-mail verification, password reset.

import { api, navigate, nextPath, session } from "../app";
import { ApiError } from "../lib/api";
import { field, h, type Field } from "../lib/dom";
import type { Page, RouteContext } from "../lib/router";
import type { SessionData, User } from "../lib/types";
import { announce, busyForm, clearFormError, errorBox, loading, notice, pageHeading, showFormError } from "../lib/ui";

function form(onsubmit: (ev: SubmitEvent) => void, ...children: Array<Node | null>): HTMLFormElement {
  return h("form", { novalidate: true, onsubmit: (ev: Event) => { ev.preventDefault(); onsubmit(ev as SubmitEvent); } }, ...children);
}

/** Browser-side checks mirroring the server's (the server stays the judge). */
export function checkSignup(v: { email: string; password: string; display_name: string }): Record<string, string> {
  const out: Record<string, string> = {};
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.email)) out["email"] = "Enter an e-mail address, like name@example.com.";
  if (v.password.length < 10) out["password"] = "Use at least 10 characters.";
  if (!v.display_name.trim()) out["display_name"] = "Enter the name people will see.";
  return out;
}

function localErrors(errors: Record<string, string>, fields: Record<string, Field>, alertSlot: HTMLElement): boolean {
  clearFormError(fields, alertSlot);
  const names = Object.keys(errors);
  if (!names.length) return false;
  for (const n of names) fields[n]?.setError(errors[n]!);
  alertSlot.append(h("div", { class: "alert error", role: "alert" }, h("p", null, "Please correct the highlighted fields.")));
  fields[names[0]!]?.input.focus();
  return true;
}

export function signupView(ctx: RouteContext): Page {
  const fields = {
    display_name: field({ label: "Your name", name: "display_name", required: true, autocomplete: "name", maxlength: 100 }),
    email: field({ label: "E-mail address", name: "email", type: "email", required: true, autocomplete: "email" }),
    password: field({
      label: "Password",
      name: "password",
      type: "password",
      required: true,
      autocomplete: "new-password",
      hint: "At least 10 characters.",
    }),
  };
  const alertSlot = h("div", { class: "form-alert" });
  const section = h("section", { class: "narrow" }, pageHeading("Create your account"));
  const submit = async () => {
    const v = {
      email: fields.email.input.value.trim(),
      password: fields.password.input.value,
      display_name: fields.display_name.input.value.trim(),
    };
    if (localErrors(checkSignup(v), fields, alertSlot)) return;
    const undo = busyForm(f);
    try {
      const user = await api.post<User>("/auth/register", v, { auth: false });
      section.replaceChildren(
        pageHeading("Check your inbox"),
        notice(`We sent a confirmation link to ${user.email}. Open it to confirm your address.`, "success"),
        h("p", null, "You can already log in and book while you wait for it."),
        h("p", null, h("a", { class: "button", href: `/login?email=${encodeURIComponent(user.email)}` }, "Log in")),
      );
      section.querySelector("h1")?.focus();
      announce("Account created. Check your inbox.");
    } catch (e) {
      undo();
      showFormError(e, fields, alertSlot, ctx.signal);
      if (e instanceof ApiError && e.code === "CONFLICT") fields.email.setError("An account with this address exists already. Log in instead?");
      if (e instanceof ApiError && e.code === "DOMAIN_NOT_ALLOWED") fields.email.setError(e.message || "This e-mail domain can't sign up here.");
    }
  };
  const f = form(
    () => void submit(),
    alertSlot,
    fields.display_name.wrap,
    fields.email.wrap,
    fields.password.wrap,
    h("button", { type: "submit" }, "Sign up"),
  );
  section.append(f, h("p", null, "Already have an account? ", h("a", { href: "/login" }, "Log in")));
  return { title: "Sign up", node: section };
}

export function loginView(ctx: RouteContext): Page {
  if (session.loggedIn) {
    return { title: "Log in", node: h("section", null, pageHeading("You are logged in"), h("p", null, h("a", { href: nextPath(ctx) }, "Continue"))) };
  }
  const fields: Record<string, Field> = {
    email: field({ label: "E-mail address", name: "email", type: "email", required: true, autocomplete: "username", value: ctx.query.get("email") ?? "" }),
    password: field({ label: "Password", name: "password", type: "password", required: true, autocomplete: "current-password" }),
  };
  const totp = field({
    label: "Authentication code",
    name: "totp",
    required: true,
    autocomplete: "one-time-code",
    inputmode: "numeric",
    hint: "The 6-digit code from your authenticator app, or one of your recovery codes.",
    maxlength: 64,
  });
  const totpWrap = h("div", { hidden: true }, totp.wrap);
  const alertSlot = h("div", { class: "form-alert" });
  let mfaStep = false;

  const submit = async () => {
    const body: Record<string, string> = {
      email: fields["email"]!.input.value.trim(),
      password: fields["password"]!.input.value,
    };
    const local: Record<string, string> = {};
    if (!body["email"]) local["email"] = "Enter your e-mail address.";
    if (!body["password"]) local["password"] = "Enter your password.";
    if (mfaStep) {
      body["totp"] = totp.input.value.replace(/\s+/g, "");
      if (!body["totp"]) local["totp"] = "Enter the code.";
    }
    if (localErrors(local, { ...fields, totp }, alertSlot)) return;
    const undo = busyForm(f);
    try {
      const s = await api.post<SessionData>("/auth/login", body, { auth: false });
      session.set(s);
      announce(`Logged in as ${s.user.display_name}.`);
      navigate(nextPath(ctx), true);
    } catch (e) {
      undo();
      if (e instanceof ApiError && e.code === "MFA_REQUIRED") {
        const already = mfaStep;
        mfaStep = true;
        totpWrap.hidden = false;
        clearFormError({ ...fields, totp }, alertSlot);
        if (already) totp.setError("That code did not match. Try the current one.");
        else alertSlot.append(notice("Two-step verification is on for this account: enter your code.", "info"));
        totp.input.focus();
        return;
      }
      showFormError(e, { ...fields, totp }, alertSlot, ctx.signal);
    }
  };
  const f = form(
    () => void submit(),
    alertSlot,
    fields["email"]!.wrap,
    fields["password"]!.wrap,
    totpWrap,
    h("button", { type: "submit" }, "Log in"),
  );
  return {
    title: "Log in",
    node: h(
      "section",
      { class: "narrow" },
      pageHeading("Log in"),
      f,
      h("p", null, h("a", { href: "/forgot-password" }, "Forgot your password?")),
      h("p", null, "New here? ", h("a", { href: "/signup" }, "Create an account")),
    ),
  };
}

export async function verifyEmailView(ctx: RouteContext): Promise<Page> {
  const token = ctx.query.get("token") ?? "";
  const section = h("section", { class: "narrow" }, pageHeading("Confirm your e-mail address"));
  if (!token) {
    section.append(errorBox(new ApiError(400, "BAD_REQUEST", "This link has no token. Open the link from the e-mail again.")));
    return { title: "Confirm e-mail", node: section };
  }
  const status = h("div", null, loading("Confirming…"));
  section.append(status);
  const run = async () => {
    status.replaceChildren(loading("Confirming…"));
    try {
      await api.post("/auth/verify-email", { token }, { auth: false });
      // The address is confirmed; a session reloads the profile to show it.
      if (session.loggedIn) {
        try {
          session.setUser(await api.get<User>("/auth/me"));
        } catch {
          /* shown as confirmed anyway */
        }
      }
      status.replaceChildren(
        notice("Your e-mail address is confirmed. Thank you!", "success"),
        h("p", null, session.loggedIn ? h("a", { class: "button", href: "/" }, "Find events") : h("a", { class: "button", href: "/login" }, "Log in")),
      );
      announce("Your e-mail address is confirmed.");
    } catch (e) {
      const expired = e instanceof ApiError && (e.status === 400 || e.status === 404 || e.status === 410 || e.status === 422);
      status.replaceChildren(
        expired
          ? errorBox(new ApiError(400, "BAD_REQUEST", "This confirmation link is not valid any more. It may have been used already or expired."))
          : errorBox(e, () => void run(), ctx.signal),
      );
    }
  };
  await run();
  return { title: "Confirm e-mail", node: section };
}

export function forgotPasswordView(ctx: RouteContext): Page {
  const email = field({ label: "E-mail address", name: "email", type: "email", required: true, autocomplete: "email" });
  const alertSlot = h("div", { class: "form-alert" });
  const section = h("section", { class: "narrow" }, pageHeading("Reset your password"));
  const f = form(
    async () => {
      const v = email.input.value.trim();
      if (localErrors(v ? {} : { email: "Enter your e-mail address." }, { email }, alertSlot)) return;
      const undo = busyForm(f);
      try {
        await api.post("/auth/password/forgot", { email: v }, { auth: false });
        undo();
        alertSlot.replaceChildren(notice("If an account uses this address, a reset link is on its way.", "success"));
      } catch (e) {
        undo();
        showFormError(e, { email }, alertSlot, ctx.signal);
      }
    },
    alertSlot,
    email.wrap,
    h("button", { type: "submit" }, "Send the reset link"),
  );
  section.append(f);
  return { title: "Reset password", node: section };
}

export function resetPasswordView(ctx: RouteContext): Page {
  const token = ctx.query.get("token") ?? "";
  const pw = field({ label: "New password", name: "password", type: "password", required: true, autocomplete: "new-password", hint: "At least 10 characters." });
  const alertSlot = h("div", { class: "form-alert" });
  const section = h("section", { class: "narrow" }, pageHeading("Choose a new password"));
  const f = form(
    async () => {
      const v = pw.input.value;
      if (localErrors(v.length >= 10 ? {} : { password: "Use at least 10 characters." }, { password: pw }, alertSlot)) return;
      const undo = busyForm(f);
      try {
        const r = await api.post<Partial<SessionData> & { mfa_required?: boolean }>(
          "/auth/password/reset",
          { token, new_password: v },
          { auth: false },
        );
        if (r.access_token && r.user) {
          session.set(r as SessionData);
          navigate("/", true);
        } else {
          section.replaceChildren(pageHeading("Password changed"), notice("Your password is changed. Log in with it (and your authentication code).", "success"), h("p", null, h("a", { class: "button", href: "/login" }, "Log in")));
        }
      } catch (e) {
        undo();
        showFormError(e, { password: pw, new_password: pw }, alertSlot, ctx.signal);
      }
    },
    alertSlot,
    pw.wrap,
    h("button", { type: "submit" }, "Set the new password"),
  );
  section.append(token ? f : errorBox(new ApiError(400, "BAD_REQUEST", "This link has no token. Open the link from the e-mail again.")));
  return { title: "New password", node: section };
}
