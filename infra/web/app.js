// The finance console and the affiliate portal: one page, routed by the
// URL's fragment, calling the ledger's JSON API with the signed-in user's
// bearer token. No build step: plain ES modules.

import { setConfig, session, getConfig } from "./api.js";
import { completeRedirect, signInView, signOut } from "./auth.js";
import { h, show, problemView } from "./ui.js";
import { batchesView, liabilitiesView, affiliatesView, reconciliationView, statementsView } from "./finance.js";
import { portalView } from "./affiliate.js";

// Script errors are kept for the browser tests to report.
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason && e.reason.stack ? e.reason.stack : e.reason)));

const FINANCE = ["finance-maker", "finance-approver", "admin"];

const FINANCE_PAGES = [
  ["batches", "Payout batches", batchesView],
  ["liabilities", "Liabilities", liabilitiesView],
  ["affiliates", "Affiliates", affiliatesView],
  ["reconciliation", "Reconciliation", reconciliationView],
  ["statements", "Statements", statementsView],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

function isFinance(s) {
  return s.claims.roles.some((r) => FINANCE.includes(r));
}

function pagesFor(s) {
  if (!s) return [];
  if (isFinance(s)) return FINANCE_PAGES;
  if (s.claims.roles.includes("affiliate") && s.claims.affiliate) {
    return [["earnings", "Your earnings", (root) => portalView(root, s.claims.affiliate)]];
  }
  return [];
}

function route() {
  const s = session();
  const pages = pagesFor(s);
  const wanted = (window.location.hash.replace(/^#\/?/, "") || "").split("?")[0];
  const page = pages.find(([id]) => id === wanted) || pages[0];
  show(nav, pages.map(([id, label]) =>
    h("a", { href: `#/${id}`, "aria-current": page && page[0] === id ? "page" : null }, label)));
  if (!s) {
    show(who);
    show(main, signInView(() => {
      window.location.hash = "#/";
      route();
    }));
    return;
  }
  const signOutButton = h("button", { type: "button", id: "sign-out", onclick: signOut }, "Sign out");
  show(who, h("span", {}, `${s.claims.email || s.claims.subject} · ${s.claims.tenant} · ${s.claims.roles.join(", ")}`), signOutButton);
  if (!page) {
    show(main, h("section", { class: "card" }, h("h1", {}, "Nothing here for this role"),
      h("p", {}, `The roles ${s.claims.roles.join(", ") || "(none)"} have no pages: the console is for finance and admins, the portal for affiliates.`)));
    return;
  }
  document.title = `${page[1]} · Payouts ledger`;
  Promise.resolve(page[2](main)).catch((e) => show(main, problemView(e)));
  main.focus();
}

async function boot() {
  try {
    const response = await fetch("config.json", { cache: "no-cache" });
    if (response.ok) setConfig({ ...getConfig(), ...(await response.json()) });
    await completeRedirect();
  } catch (e) {
    show(main, problemView(e));
    return;
  }
  window.addEventListener("hashchange", route);
  window.addEventListener("ledger:signed-out", route);
  route();
}

boot();
