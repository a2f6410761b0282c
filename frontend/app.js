// ventures: the example frontend's script. Copy it with index.html.
//
// Every call to the API goes to another origin (the API's subdomain) with
// credentials: "include", so the browser sends the API's session cookie and
// the API answers with CORS headers naming this page's origin. The session
// cookie is HttpOnly: this script never sees it, and never needs to.
//
// Unsafe requests (POST, DELETE) carry the CSRF token from GET /api/auth/csrf
// in an X-CSRFToken header. The token changes at every login, so it is
// fetched afresh before each one.
"use strict";

const API_ORIGIN = document
  .querySelector('meta[name="api-origin"]')
  .content.replace(/\/+$/, "");

const STATUS_NAMES = {
  active_patron: "Active patron",
  former_patron: "Former patron",
  declined_patron: "Declined patron",
};

// What this page offers, each piece behind an entitlement the API
// configures (PATREON_ENTITLEMENTS): the API decides, this page only shows.
const CONTENT = [
  {
    entitlement: "supporter",
    title: "The monthly letter",
    body: "November: what worked, what did not, and what we try next.",
  },
  {
    entitlement: "early-access",
    title: "Early access: the next venture",
    body: "The prototype, two weeks before everyone else.",
  },
];

// Why a piece is locked (or about to be), in the person's words, from the
// reasons of /api/auth/me's entitlement_reasons.
const LOCKED = {
  not_member: "Become a patron on Patreon to unlock this.",
  not_entitled: "Your tier does not include this: upgrade on Patreon.",
  membership_stale: "Your membership needs refreshing:",
  declined_past_grace:
    "Your last payment was declined: update it on Patreon, then log in again.",
  refunded: "Your last payment was refunded.",
  fraud: "Your last payment was refused by Patreon.",
};
const NOTICES = {
  declined_in_grace:
    "Your last payment was declined. Your access continues for a few days: " +
    "update your payment method on Patreon.",
  declined_past_grace:
    "Your last payment was declined. Update it on Patreon, then log in again.",
  membership_stale:
    "We last checked your Patreon membership a while ago. Log in again to refresh it.",
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(API_ORIGIN + path, {
      ...options,
      credentials: "include",
      headers: { Accept: "application/json", ...options.headers },
    });
  } catch {
    // A network error, or the browser refused the answer (CORS).
    throw new ApiError(`Could not reach the API at ${API_ORIGIN}.`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: only the status tells.
  }
  return { status: response.status, body };
}

async function unsafe(method, path) {
  const { body } = await api("/api/auth/csrf");
  if (!body || !body.csrf_token) {
    throw new ApiError("The API gave no CSRF token.");
  }
  return api(path, { method, headers: { "X-CSRFToken": body.csrf_token } });
}

function loginUrl() {
  // Back to this very page once logged in. The API only accepts a `next`
  // on one of its FRONTEND_ORIGINS.
  const here = location.origin + location.pathname + location.search;
  return `${API_ORIGIN}/login?next=${encodeURIComponent(here)}`;
}

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function showLoggedOut(text = "Not logged in.") {
  $("account").hidden = true;
  $("logged-out").hidden = false;
  $("login").href = loginUrl();
  setStatus("logged-out", text);
}

function formatDate(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function showAccount(me) {
  const patreon = me.patreon || {};
  $("name").textContent = me.user.name || me.user.username;
  $("email").textContent = me.user.email || "";
  $("patreon-id").textContent = patreon.id || "-";
  $("patron-status").textContent = patreon.patron_status
    ? STATUS_NAMES[patreon.patron_status] || patreon.patron_status
    : "Not a patron";
  const tiers = (patreon.tiers || []).map((tier) => tier.title);
  $("tiers").textContent = tiers.length ? tiers.join(", ") : "None";
  $("expires").textContent = formatDate(me.session && me.session.expires_at);
  const avatar = $("avatar");
  if (me.user.avatar_url) {
    avatar.addEventListener("load", () => (avatar.hidden = false), { once: true });
    avatar.addEventListener("error", () => (avatar.hidden = true), { once: true });
    avatar.src = me.user.avatar_url;
  }
  $("logged-out").hidden = true;
  $("account").hidden = false;
  setStatus("logged-in", "Logged in.");
}

// Whether a piece is shown is the API's decision (entitlements); the reason
// only says why not, or that a declined payment needs fixing.
function contentItem(piece, granted, reason) {
  const item = document.createElement("li");
  item.className = granted ? "unlocked" : "locked";
  item.dataset.entitlement = piece.entitlement;
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = piece.title;
  if (!granted) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "locked";
    title.append(badge);
  }
  const text = document.createElement("span");
  text.textContent = granted
    ? piece.body
    : LOCKED[reason] || "Not offered to you here.";
  item.append(title, text);
  if (reason === "membership_stale") {
    const again = document.createElement("a");
    again.href = loginUrl();
    again.textContent = " log in again";
    item.append(again);
  }
  return item;
}

function showContent(me) {
  const granted = me.entitlements || [];
  const reasons = me.entitlement_reasons || {};
  $("content").replaceChildren(
    ...CONTENT.map((piece) =>
      contentItem(
        piece,
        granted.includes(piece.entitlement),
        reasons[piece.entitlement],
      ),
    ),
  );
  // One notice for the whole membership: the first reason that has one. A
  // declined patron may hold no tier any more (Patreon's choice), so the
  // status says it too.
  const declined =
    me.patreon && me.patreon.patron_status === "declined_patron"
      ? NOTICES.declined_past_grace
      : null;
  const notice =
    Object.values(reasons)
      .map((reason) => NOTICES[reason])
      .find(Boolean) || declined;
  $("membership-notice").textContent = notice || "";
  $("membership-notice").hidden = !notice;
}

function sessionRow(session) {
  const row = document.createElement("tr");
  row.dataset.sessionId = session.id;
  const started = document.createElement("td");
  started.textContent = formatDate(session.created_at);
  if (session.current) {
    row.classList.add("current-session");
    const badge = document.createElement("span");
    badge.className = "current";
    badge.textContent = "this browser";
    started.append(badge);
  }
  const agent = document.createElement("td");
  agent.className = "agent";
  agent.textContent = session.user_agent || "";
  agent.title = session.user_agent || "";
  const action = document.createElement("td");
  const end = document.createElement("button");
  end.type = "button";
  end.className = "small secondary end-session";
  end.textContent = "End";
  end.addEventListener(
    "click",
    guarded(() => endSession(session.id)),
  );
  action.append(end);
  row.append(started, agent, action);
  return row;
}

async function loadSessions() {
  const { status, body } = await api("/api/auth/sessions");
  if (status === 401) {
    showLoggedOut("Your session has ended.");
    return;
  }
  if (status !== 200) {
    showError(`Listing your sessions failed (HTTP ${status}).`);
    return;
  }
  $("sessions").replaceChildren(...body.sessions.map(sessionRow));
}

async function endSession(id) {
  const { status, body } = await unsafe(
    "DELETE",
    `/api/auth/sessions/${encodeURIComponent(id)}`,
  );
  if (status === 403 && body && body.error === "recent_login_required") {
    showError("Log in again to end your other sessions.");
    $("login").href = loginUrl();
    return;
  }
  if (status !== 200 && status !== 401) {
    showError(`Ending the session failed (HTTP ${status}).`);
    return;
  }
  if (status === 401 || (body && body.authenticated === false)) {
    showLoggedOut("You ended this session: you are logged out.");
    return;
  }
  await loadSessions();
}

async function logOut() {
  const { status } = await unsafe("POST", "/api/auth/logout");
  if (status !== 200) {
    showError(`Logging out failed (HTTP ${status}).`);
    return;
  }
  showLoggedOut("You are logged out.");
}

async function load() {
  $("error").hidden = true;
  setStatus("loading", "Asking the API who you are…");
  const { status, body } = await api("/api/auth/me");
  if (status === 401) {
    showLoggedOut();
    return;
  }
  if (status !== 200 || !body || !body.authenticated) {
    setStatus("error", "Something went wrong.");
    showError(`The API answered HTTP ${status}.`);
    return;
  }
  showAccount(body);
  showContent(body);
  await loadSessions();
}

function guarded(action) {
  return () =>
    action().catch((error) => {
      setStatus("error", "Something went wrong.");
      showError(error instanceof ApiError ? error.message : String(error));
      console.error(error);
    });
}

$("page-origin").textContent = location.origin;
$("api-origin").textContent = API_ORIGIN;
$("refresh").addEventListener("click", guarded(load));
$("logout").addEventListener("click", guarded(logOut));
guarded(load)();
