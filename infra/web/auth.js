// Sign-in. Locally: the stack's development sign-in mints a token for a
// tenant, a role and a user name. On AWS: the user pool's hosted UI with the
// authorization code flow and PKCE; the page keeps the ID token (whose
// audience is the app client the API's JWT authorizer accepts) in this tab's
// session storage only.

import { getConfig, saveSession, clearSession, ApiError } from "./api.js";
import { h, field, problemView, show } from "./ui.js";

const PKCE = "ledger.pkce";

function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function startCognito() {
  const { cognito } = getConfig();
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const q = new URLSearchParams({
    response_type: "code",
    client_id: cognito.clientId,
    redirect_uri: cognito.redirectUri,
    scope: "openid email profile",
    state,
    code_challenge_method: "S256",
    code_challenge: challenge,
  });
  window.location.assign(`${cognito.domain}/oauth2/authorize?${q}`);
}

/** Finishes a hosted-UI sign-in when the page is loaded with ?code=&state=. */
export async function completeRedirect() {
  const params = new URLSearchParams(window.location.search);
  const code = params.get("code");
  if (!code || getConfig().signIn !== "cognito") return null;
  const { cognito } = getConfig();
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  sessionStorage.removeItem(PKCE);
  window.history.replaceState(null, "", window.location.pathname);
  if (!saved || saved.state !== params.get("state")) {
    throw new Error("the sign-in answer does not match the sign-in this tab started; sign in again");
  }
  const response = await fetch(`${cognito.domain}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: cognito.clientId,
      code,
      redirect_uri: cognito.redirectUri,
      code_verifier: saved.verifier,
    }),
  });
  if (!response.ok) throw new Error(`the identity provider refused the sign-in (${response.status})`);
  const tokens = await response.json();
  return saveSession(tokens.id_token);
}

export function signOut() {
  clearSession();
  const c = getConfig();
  if (c.signIn === "cognito") {
    const q = new URLSearchParams({ client_id: c.cognito.clientId, logout_uri: c.cognito.redirectUri });
    window.location.assign(`${c.cognito.domain}/logout?${q}`);
  } else {
    window.location.hash = "#/";
    window.dispatchEvent(new Event("ledger:signed-out"));
  }
}

/** The sign-in page. */
export function signInView(onSignedIn) {
  const c = getConfig();
  if (c.signIn === "cognito") {
    return h("section", { class: "card", "aria-labelledby": "signin-h" },
      h("h1", { id: "signin-h" }, "Sign in"),
      h("p", {}, "Finance staff and affiliates sign in with the account their administrator created."),
      h("button", { id: "sign-in", onclick: () => startCognito() }, "Sign in"));
  }
  const out = h("div", { "aria-live": "polite" });
  const tenant = h("input", { id: "tenant", name: "tenant", value: "acme", required: true, autocomplete: "organization" });
  const subject = h("input", { id: "subject", name: "subject", required: true, autocomplete: "username", placeholder: "maria@acme" });
  const role = h("select", { id: "role", name: "role" },
    ["finance-maker", "finance-approver", "admin", "affiliate"].map((r) => h("option", { value: r }, r)));
  const affiliate = h("input", { id: "affiliate", name: "affiliate", placeholder: "aff-anna" });
  const affiliateLabel = field("Affiliate id (for the affiliate role)", affiliate);
  const submit = async (event) => {
    event.preventDefault();
    show(out);
    const body = { tenant_id: tenant.value.trim(), subject: subject.value.trim(), role: role.value };
    if (role.value === "affiliate") body.affiliate_id = affiliate.value.trim();
    try {
      const response = await fetch(`${c.apiBase}/local/dev-sign-in`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const json = await response.json();
      if (!response.ok) throw new ApiError(response.status, json);
      onSignedIn(saveSession(json.token));
    } catch (e) {
      show(out, problemView(e));
    }
  };
  return h("section", { class: "card", "aria-labelledby": "signin-h" },
    h("h1", { id: "signin-h" }, "Sign in (local development)"),
    h("p", { class: "muted" },
      "The local stack mints a development token for a tenant, a user and a role. On AWS this page signs in through the user pool instead."),
    h("form", { class: "inline", onsubmit: submit },
      field("Tenant", tenant), field("Your name", subject), field("Role", role), affiliateLabel,
      h("button", { type: "submit", id: "sign-in" }, "Sign in")),
    out);
}
