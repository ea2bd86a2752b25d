// The session and the JSON API client: the page calls the same API as curl,
// with the signed-in user's bearer token.

const SESSION = "ledger.session";

/** Thrown for any non-2xx answer; `problem` is its problem+json body when it has one. */
export class ApiError extends Error {
  constructor(status, problem, text) {
    super(problem ? `${problem.title}: ${problem.detail}` : `HTTP ${status} ${text || ""}`.trim());
    this.status = status;
    this.problem = problem;
  }
}

let config = { signIn: "local", apiBase: "" };

export function setConfig(c) {
  config = c;
}

export function getConfig() {
  return config;
}

function b64urlDecode(part) {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Who a token says the user is (for display and navigation only: the API verifies it). */
export function claimsOf(token) {
  const payload = JSON.parse(b64urlDecode(token.split(".")[1] || ""));
  let roles = payload.roles ?? payload["cognito:groups"] ?? [];
  if (typeof roles === "string") roles = roles.replace(/^\[|\]$/g, "").split(/[\s,]+/).filter(Boolean);
  return {
    subject: payload.sub,
    email: payload.email,
    tenant: payload.tenant_id ?? payload["custom:tenant_id"],
    affiliate: payload.affiliate_id ?? payload["custom:affiliate_id"],
    roles,
    expires: payload.exp,
  };
}

export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION) || "null");
    if (s && s.claims && s.claims.expires * 1000 > Date.now()) return s;
  } catch {
    // A damaged session is no session.
  }
  sessionStorage.removeItem(SESSION);
  return null;
}

export function saveSession(token) {
  const s = { token, claims: claimsOf(token) };
  sessionStorage.setItem(SESSION, JSON.stringify(s));
  return s;
}

export function clearSession() {
  sessionStorage.removeItem(SESSION);
}

async function answer(response) {
  const type = response.headers.get("content-type") || "";
  if (response.ok) {
    if (type.includes("json")) return response.json();
    return response.text();
  }
  let problem = null;
  let text = "";
  if (type.includes("json")) {
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
  } else {
    text = await response.text();
  }
  if (response.status === 401) {
    clearSession();
    window.dispatchEvent(new Event("ledger:signed-out"));
  }
  throw new ApiError(response.status, problem, text);
}

/** Calls the API: `api("POST", "/v1/payout-runs", { currency: "EUR" })`. */
export async function api(method, path, body) {
  const s = session();
  const headers = { accept: "application/json" };
  if (s) headers.authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${config.apiBase}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer(response);
}

/** Downloads a CSV export with the bearer token and saves it as a file. */
export async function download(path, filename) {
  const s = session();
  const response = await fetch(`${config.apiBase}${path}`, {
    headers: s ? { authorization: `Bearer ${s.token}` } : {},
  });
  if (!response.ok) return answer(response);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return filename;
}

/** A query string from the set values of an object. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
