// Profile: view and edit, password change, two-step verification (TOTP) with the QR code.

import { api, requireUser, session } from "../app";
import { field, h } from "../lib/dom";
import type { Page, RouteContext } from "../lib/router";
import type { SessionData, User } from "../lib/types";
import { announce, busyForm, clearFormError, notice, pageHeading, showFormError } from "../lib/ui";
import { formatDateTime } from "../lib/format";


function profileForm(ctx: RouteContext, user: User): HTMLElement {
  const fields = {
    display_name: field({ label: "Name", name: "display_name", value: user.display_name, required: true, autocomplete: "name", maxlength: 100 }),
    bio: field({ label: "About you", name: "bio", value: user.bio ?? "", textarea: true, maxlength: 2000 }),
    avatar_url: field({ label: "Picture URL", name: "avatar_url", type: "url", value: user.avatar_url ?? "", autocomplete: "photo" }),
    timezone: field({
      label: "Time zone",
      name: "timezone",
      value: user.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone,
      hint: "For example Europe/Paris.",
    }),
  };
  const alertSlot = h("div", { class: "form-alert" });
  const f: HTMLFormElement = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const undo = busyForm(f);
        clearFormError(fields, alertSlot);
        try {
          const u = await api.put<User>("/auth/me", {
            display_name: fields.display_name.input.value.trim(),
            bio: fields.bio.input.value,
            avatar_url: fields.avatar_url.input.value.trim(),
            timezone: fields.timezone.input.value.trim(),
          });
          session.setUser({ ...session.user!, ...u });
          alertSlot.append(notice("Profile saved.", "success"));
          announce("Profile saved.");
        } catch (e) {
          showFormError(e, fields, alertSlot, ctx.signal);
        } finally {
          undo();
        }
      },
    },
    alertSlot,
    fields.display_name.wrap,
    fields.bio.wrap,
    fields.avatar_url.wrap,
    fields.timezone.wrap,
    h("button", { type: "submit" }, "Save profile"),
  );
  return h("section", { "aria-labelledby": "h-profile" }, h("h2", { id: "h-profile" }, "Your details"), f);
}

function passwordForm(ctx: RouteContext): HTMLElement {
  const fields = {
    current_password: field({ label: "Current password", name: "current_password", type: "password", required: true, autocomplete: "current-password" }),
    new_password: field({ label: "New password", name: "new_password", type: "password", required: true, autocomplete: "new-password", hint: "At least 10 characters." }),
  };
  const alertSlot = h("div", { class: "form-alert" });
  const f: HTMLFormElement = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        clearFormError(fields, alertSlot);
        if (fields.new_password.input.value.length < 10) {
          fields.new_password.setError("Use at least 10 characters.");
          fields.new_password.input.focus();
          return;
        }
        const undo = busyForm(f);
        try {
          const s = await api.post<SessionData>("/auth/password", {
            current_password: fields.current_password.input.value,
            new_password: fields.new_password.input.value,
          });
          session.set(s);
          f.reset();
          alertSlot.append(notice("Password changed. Your other sessions were logged out.", "success"));
          announce("Password changed.");
        } catch (e) {
          showFormError(e, fields, alertSlot, ctx.signal);
        } finally {
          undo();
        }
      },
    },
    alertSlot,
    fields.current_password.wrap,
    fields.new_password.wrap,
    h("button", { type: "submit" }, "Change password"),
  );
  return h("section", { "aria-labelledby": "h-password" }, h("h2", { id: "h-password" }, "Password"), f);
}

function mfaSection(ctx: RouteContext, user: User): HTMLElement {
  const body = h("div");
  const section = h("section", { "aria-labelledby": "h-mfa" }, h("h2", { id: "h-mfa" }, "Two-step verification"), body);
  const alertSlot = h("div", { class: "form-alert" });

  const showOff = () => {
    body.replaceChildren(
      h("p", null, "Add a second step to your log-in with an authenticator app (TOTP)."),
      alertSlot,
      h(
        "button",
        {
          type: "button",
          onclick: async (ev: Event) => {
            const btn = ev.currentTarget as HTMLButtonElement;
            btn.disabled = true;
            try {
              const r = await api.post<{ secret: string; otpauth_uri: string }>("/auth/mfa/setup", {});
              await showSetup(r.secret, r.otpauth_uri);
            } catch (e) {
              btn.disabled = false;
              showFormError(e, {}, alertSlot, ctx.signal);
            }
          },
        },
        "Set up two-step verification",
      ),
    );
  };

  const showSetup = async (secret: string, uri: string) => {
    // The QR encoder is loaded only here (its own hashed chunk).
    const { qrDataUrl } = await import("../lib/qr");
    const code = field({ label: "Code from the app", name: "code", required: true, inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, pattern: "[0-9]{6}" });
    const f: HTMLFormElement = h(
      "form",
      {
        novalidate: true,
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const undo = busyForm(f);
          try {
            const r = await api.post<{ recovery_codes: string[] }>("/auth/mfa/enable", { code: code.input.value.trim() });
            showCodes(r.recovery_codes);
          } catch (e) {
            undo();
            showFormError(e, { code }, alertSlot, ctx.signal);
          }
        },
      },
      alertSlot,
      code.wrap,
      h("button", { type: "submit" }, "Turn on"),
    );
    body.replaceChildren(
      h("p", null, "Scan this code with your authenticator app, then enter the 6-digit code it shows."),
      h("img", { class: "qr", src: qrDataUrl(uri), alt: "QR code for your authenticator app", width: 200, height: 200 }),
      h("p", null, "Can't scan? Enter this key instead: ", h("code", { class: "secret" }, secret)),
      f,
    );
    code.input.focus();
  };

  const showCodes = (codes: string[]) => {
    session.setUser({ ...session.user!, mfa_enabled: true });
    body.replaceChildren(
      notice("Two-step verification is on.", "success"),
      h("p", null, "Keep these recovery codes somewhere safe. Each works once if you lose your phone. They are shown only now."),
      h("ul", { class: "codes" }, codes.map((c) => h("li", null, h("code", null, c)))),
    );
    announce("Two-step verification is on.");
  };

  const showOn = () => {
    const code = field({ label: "Code or recovery code", name: "code", required: true, autocomplete: "one-time-code", maxlength: 64 });
    const f: HTMLFormElement = h(
      "form",
      {
        novalidate: true,
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const undo = busyForm(f);
          try {
            await api.post("/auth/mfa/disable", { code: code.input.value.trim() });
            session.setUser({ ...session.user!, mfa_enabled: false });
            announce("Two-step verification is off.");
            showOff();
          } catch (e) {
            undo();
            showFormError(e, { code }, alertSlot, ctx.signal);
          }
        },
      },
      alertSlot,
      code.wrap,
      h("button", { type: "submit", class: "danger" }, "Turn off"),
    );
    body.replaceChildren(h("p", null, "Two-step verification is on."), f);
  };

  if (user.mfa_enabled) showOn();
  else showOff();
  return section;
}

export async function profileView(ctx: RouteContext): Promise<Page> {
  requireUser(ctx);
  const user = await api.get<User>("/auth/me", { signal: ctx.signal });
  session.setUser({ ...session.user!, ...user });
  const node = h(
    "div",
    { class: "stack" },
    pageHeading("Your profile"),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "E-mail"),
      h("dd", null, user.email, " ", user.email_verified ? h("span", { class: "badge ok" }, "confirmed") : h("span", { class: "badge warn" }, "not confirmed yet")),
      h("dt", null, "Roles"),
      h("dd", null, user.roles.join(", ")),
      h("dt", null, "Member since"),
      h("dd", null, formatDateTime(user.created_at)),
    ),
    user.email_verified ? null : notice("Open the link we e-mailed you to confirm your address.", "warning"),
    profileForm(ctx, user),
    passwordForm(ctx),
    mfaSection(ctx, user),
  );
  return { title: "Profile", node };
}
