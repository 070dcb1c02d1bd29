import { mount, session } from "./app";
import { h } from "./lib/dom";
import type { Route } from "./lib/router";
import { pageHeading } from "./lib/ui";
import { adminUsersView } from "./views/admin";
import { forgotPasswordView, loginView, resetPasswordView, signupView, verifyEmailView } from "./views/auth";
import { bookingView, myBookingsView } from "./views/bookings";
import { checkoutReturnView, checkoutView } from "./views/checkout";
import { adminPayoutsView, balanceView } from "./views/payouts";
import { bookView, eventView, homeView } from "./views/events";
import { forbiddenView, manageEventView, newEventView, organizerHomeView } from "./views/organizer";
import { profileView } from "./views/profile";
import { navigate } from "./app";

const routes: Route[] = [
  { pattern: "/", view: homeView },
  { pattern: "/events/:slug", view: eventView },
  { pattern: "/events/:slug/book/:show", view: bookView },
  { pattern: "/bookings", view: myBookingsView },
  { pattern: "/bookings/:id", view: bookingView },
  // Before /checkout/:id, which would take "return" for a booking id.
  { pattern: "/checkout/return", view: checkoutReturnView },
  { pattern: "/checkout/:id", view: checkoutView },
  { pattern: "/balance", view: balanceView },
  { pattern: "/signup", view: signupView },
  { pattern: "/login", view: loginView },
  {
    pattern: "/logout",
    view: async () => {
      await session.logout();
      navigate("/", true);
      return { title: "Logged out", node: h("p", null, "Logged out.") };
    },
  },
  { pattern: "/verify-email", view: verifyEmailView },
  { pattern: "/forgot-password", view: forgotPasswordView },
  { pattern: "/reset-password", view: resetPasswordView },
  { pattern: "/profile", view: profileView },
  { pattern: "/organizer", view: organizerHomeView },
  { pattern: "/organizer/new", view: newEventView },
  { pattern: "/organizer/events/:slug", view: manageEventView },
  { pattern: "/admin/users", view: adminUsersView },
  { pattern: "/admin/payouts", view: adminPayoutsView },
  { pattern: "/forbidden", view: forbiddenView },
];

const notFound = () => ({
  title: "Not found",
  node: h("section", null, pageHeading("Page not found"), h("p", null, "There is nothing at this address. ", h("a", { href: "/" }, "Back to events"))),
});

async function boot() {
  const root = document.getElementById("app")!;
  await session.restore();
  mount(root, routes, notFound);
}

void boot();
