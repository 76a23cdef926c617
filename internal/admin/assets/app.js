// wharf admin page: signs in, then polls the API once a second and keeps
// the rows in place (keyed), so progress bars move instead of flashing.
// Everything shown comes from the API and is set as text, never as HTML:
// user names and paths are chosen by FTP clients.
"use strict";

const POLL_MS = 1000;
let csrf = "";
let timer = 0;
let editing = null; // name of the user in the form, null when adding

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// IEC units with one decimal, as the share page prints them.
function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + u[i];
}

// An exact IEC size ("10MiB") for a form field, so saving it unchanged
// writes the same number.
function exactSize(n) {
  if (!n) return "";
  const u = ["", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n % 1024 === 0 && n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return String(n) + u[i];
}

function fmtTime(s) {
  const d = new Date(s);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function fmtDateTime(s) {
  const d = new Date(s);
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) opts.headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, opts);
  let data = {};
  try { data = await resp.json(); } catch (e) { data = { error: "HTTP " + resp.status }; }
  if (data.node) $("node").textContent = "node " + data.node;
  if (resp.status === 401 && path !== "/api/v1/login") signedOut();
  if (!resp.ok) {
    const err = new Error(data.error || "HTTP " + resp.status);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function say(msg, error) {
  const s = $("status");
  s.textContent = msg;
  s.className = error ? "status error" : "status";
}

function signedIn(admin) {
  document.body.className = "signed-in";
  $("login-card").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who").textContent = admin;
  $("logout").hidden = false;
  refresh();
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
}

function signedOut() {
  csrf = "";
  clearInterval(timer);
  document.body.className = "signed-out";
  $("login-card").hidden = false;
  $("app").hidden = true;
  $("who").hidden = true;
  $("logout").hidden = true;
}

// keyed keeps one element per key in box: make builds a new one, fill
// updates it; rows whose key is gone are removed.
function keyed(box, items, key, make, fill, emptyText) {
  const old = new Map();
  for (const c of Array.from(box.children)) if (c.dataset.key) old.set(c.dataset.key, c);
  let prev = null;
  for (const it of items) {
    const k = String(key(it));
    let row = old.get(k);
    if (row) old.delete(k); else { row = make(it); row.dataset.key = k; }
    fill(row, it);
    const next = prev ? prev.nextSibling : box.firstChild;
    if (next !== row) box.insertBefore(row, next);
    prev = row;
  }
  for (const r of old.values()) r.remove();
  let empty = box.querySelector(".empty");
  if (items.length === 0 && !empty) box.appendChild(el("div", "empty", emptyText));
  if (items.length > 0 && empty) empty.remove();
}

function bar() {
  const b = el("div", "bar");
  const t = el("div", "bar-text");
  t.append(el("span"), el("span", "num"));
  const track = el("div", "track");
  track.appendChild(el("div", "fill"));
  b.append(t, track);
  return b;
}

function setBar(b, left, right, frac, unknown) {
  const [l, r] = b.querySelectorAll(".bar-text span");
  l.textContent = left;
  r.textContent = right;
  const track = b.querySelector(".track");
  const fill = b.querySelector(".fill");
  track.classList.toggle("unknown", !!unknown);
  fill.style.width = unknown ? "" : Math.max(0, Math.min(1, frac)) * 100 + "%";
  fill.classList.toggle("warn", !unknown && frac >= 0.8 && frac < 1);
  fill.classList.toggle("full", !unknown && frac >= 1);
  track.setAttribute("role", "progressbar");
  if (unknown) track.removeAttribute("aria-valuenow");
  else track.setAttribute("aria-valuenow", String(Math.round(Math.min(1, frac) * 100)));
}

function makeSession(s) {
  const row = el("div", "row s-row");
  row.dataset.session = s.id;
  const who = el("div");
  who.append(el("div", "name"), el("div", "sub"));
  const cmd = el("div");
  cmd.append(el("div", "sub cmd"), el("div", "sub"));
  const acts = el("div", "acts");
  const kick = el("button", "btn small danger", "Kick");
  kick.type = "button";
  kick.dataset.kick = s.id;
  kick.addEventListener("click", () => act(kick, "DELETE", "/api/v1/sessions/" + s.id, "Session " + s.id + " kicked."));
  acts.appendChild(kick);
  row.append(who, cmd, el("div", "xfer"), acts);
  return row;
}

function fillSession(row, s) {
  const [who, cmd, xfer] = row.children;
  const name = who.firstChild;
  name.textContent = s.user || "(not signed in)";
  if (s.tls) name.appendChild(el("span", "lock", "TLS"));
  who.lastChild.textContent = s.address + (s.login ? " · since " + fmtTime(s.login) : "");
  cmd.firstChild.textContent = s.command || "-";
  cmd.lastChild.textContent = "node " + s.node;
  const x = s.transfer;
  if (!x) {
    xfer.replaceChildren(el("div", "sub", "idle"));
    return;
  }
  let b = xfer.querySelector(".bar");
  if (!b) { b = bar(); xfer.replaceChildren(b); }
  const dir = x.upload ? "↑ " : "↓ ";
  // The API's rate is the average since the transfer began; the page
  // shows the recent one, from the bytes moved between its polls
  // (smoothed), so a stalled transfer reads as slow at once.
  const now = performance.now();
  let r = x.rate;
  const p = row._prev;
  const same = p && p.path === x.path && p.start === x.start && x.bytes >= p.bytes;
  if (same && now - p.t < 200) {
    r = p.rate; // polled again at once (after an action): too short to measure
  } else {
    if (same) r = 0.5 * ((x.bytes - p.bytes) / ((now - p.t) / 1000)) + 0.5 * p.rate;
    row._prev = { bytes: x.bytes, t: now, path: x.path, start: x.start, rate: r };
  }
  const rate = fmtBytes(Math.round(r)) + "/s";
  if (x.size > 0) {
    setBar(b, dir + x.path, fmtBytes(x.bytes) + " of " + fmtBytes(x.size) + " · " + rate, x.bytes / x.size, false);
  } else {
    setBar(b, dir + x.path, fmtBytes(x.bytes) + " · " + rate, 0, true);
  }
}

function makeUser(u) {
  const row = el("div", "row u-row");
  row.dataset.user = u.name;
  const who = el("div");
  who.append(el("div", "name", u.name), el("div", "sub"));
  const acts = el("div", "acts");
  const edit = el("button", "btn small", "Edit");
  edit.type = "button";
  edit.addEventListener("click", () => openForm(row._user));
  const toggle = el("button", "btn small toggle");
  toggle.type = "button";
  toggle.addEventListener("click", () => {
    const off = row._user.state !== "disabled";
    act(toggle, "POST", "/api/v1/users/" + encodeURIComponent(u.name) + (off ? "/disable" : "/enable"),
      "User " + u.name + (off ? " disabled." : " enabled."));
  });
  const del = el("button", "btn small danger", "Delete");
  del.type = "button";
  del.addEventListener("click", () => {
    if (!confirm("Delete user " + u.name + "? Their files stay.")) return;
    act(del, "DELETE", "/api/v1/users/" + encodeURIComponent(u.name), "User " + u.name + " deleted.");
  });
  acts.append(edit, toggle, del);
  row.append(who, el("span", "state"), bar(), el("div", "sub sess"), acts);
  return row;
}

function fillUser(row, u) {
  row._user = u;
  const [who, state, b, sess, acts] = row.children;
  who.lastChild.textContent = u.perms;
  state.textContent = u.state;
  state.className = "state " + u.state;
  const files = u.quota_files ? u.used_files + " of " + u.quota_files + " files" : u.used_files === 1 ? "1 file" : u.used_files + " files";
  if (u.quota_bytes > 0) {
    setBar(b, fmtBytes(u.used_bytes) + " of " + fmtBytes(u.quota_bytes), files, u.used_bytes / u.quota_bytes, false);
  } else {
    setBar(b, fmtBytes(u.used_bytes) + " · no quota", files, 0, false);
  }
  sess.textContent = u.sessions === 1 ? "1 session" : u.sessions + " sessions";
  acts.querySelector(".toggle").textContent = u.state === "disabled" ? "Enable" : "Disable";
}

function makeBan(b) {
  const row = el("div", "row b-row");
  row.dataset.ban = b.addr;
  const lift = el("button", "btn small", "Lift");
  lift.type = "button";
  lift.dataset.lift = b.addr;
  lift.addEventListener("click", () => act(lift, "DELETE", "/api/v1/bans/" + encodeURIComponent(b.addr), "Ban of " + b.addr + " lifted."));
  const acts = el("div", "acts");
  acts.appendChild(lift);
  row.append(el("div", "name", b.addr), el("div", "sub num"), el("div", "sub until"), acts);
  return row;
}

function fillBan(row, b) {
  row.children[1].textContent = b.failures === 1 ? "1 failure" : b.failures + " failures";
  row.children[2].textContent = "until " + fmtDateTime(b.until);
}

async function act(btn, method, path, done) {
  btn.disabled = true;
  try {
    await api(method, path);
    say(done, false);
  } catch (e) {
    say(e.message, true);
  } finally {
    btn.disabled = false;
  }
  refresh();
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [s, u, b] = await Promise.all([api("GET", "/api/v1/sessions"), api("GET", "/api/v1/users"), api("GET", "/api/v1/bans")]);
    keyed($("sessions"), s.sessions, (x) => x.id, makeSession, fillSession, "No one is connected.");
    keyed($("users"), u.users, (x) => x.name, makeUser, fillUser, "No users yet.");
    keyed($("bans"), b.bans, (x) => x.addr, makeBan, fillBan, "No address is banned.");
    $("n-sessions").textContent = String(s.sessions.length);
    $("n-users").textContent = String(u.users.length);
    $("n-bans").textContent = String(b.bans.length);
  } catch (e) {
    if (e.status !== 401) say("Cannot reach the server: " + e.message, true);
  } finally {
    refreshing = false;
  }
}

function openForm(u) {
  const f = $("user-form");
  f.reset();
  $("user-status").textContent = "";
  editing = u ? u.name : null;
  $("user-form-title").textContent = u ? "Edit " + u.name : "Add user";
  f.elements.name.readOnly = !!u;
  f.elements.password.required = !u;
  f.elements.password.placeholder = u ? "unchanged" : "";
  const perm = f.elements.perm;
  for (const o of Array.from(perm.options)) if (o.dataset.custom) o.remove();
  if (u) {
    f.elements.name.value = u.name;
    f.elements.quota.value = exactSize(u.quota_bytes);
    f.elements.max_files.value = u.quota_files || "";
    if (!Array.from(perm.options).some((o) => o.value === u.perms)) {
      const o = el("option", "", u.perms);
      o.value = u.perms;
      o.dataset.custom = "1";
      perm.appendChild(o);
    }
    perm.value = u.perms;
    f.elements.max_sessions.value = u.max_sessions || "";
    f.elements.rate_up.value = u.rate_up ? exactSize(u.rate_up) + "/s" : "";
    f.elements.rate_down.value = u.rate_down ? exactSize(u.rate_down) + "/s" : "";
    f.elements.expires.value = u.expires || "";
    f.elements.tls_required.checked = !!u.tls_required;
  }
  f.hidden = false;
  (u ? f.elements.quota : f.elements.name).focus();
}

// formBody reads the form into the API's JSON: empty text means the
// default (unlimited, never), numbers go as numbers.
function formBody(f) {
  const body = {};
  if (!editing) body.name = f.elements.name.value.trim();
  if (f.elements.password.value) body.password = f.elements.password.value;
  body.quota = f.elements.quota.value.trim() || "0";
  body.perm = f.elements.perm.value;
  body.rate_up = f.elements.rate_up.value.trim() || "0";
  body.rate_down = f.elements.rate_down.value.trim() || "0";
  body.expires = f.elements.expires.value.trim() || "never";
  body.tls_required = f.elements.tls_required.checked;
  for (const k of ["max_files", "max_sessions"]) {
    const v = f.elements[k].value.trim();
    body[k] = v === "" ? 0 : /^\d+$/.test(v) ? Number(v) : v;
  }
  return body;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $("login-status").textContent = "";
    try {
      const r = await api("POST", "/api/v1/login", { name: f.elements.name.value.trim(), password: f.elements.password.value });
      csrf = r.csrf_token;
      f.elements.password.value = "";
      signedIn(r.admin);
    } catch (e) {
      $("login-status").textContent = e.status === 401 ? "Wrong name or password." : e.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/v1/logout"); } catch (e) { /* signed out either way */ }
    signedOut();
  });
  $("add-user").addEventListener("click", () => openForm(null));
  $("user-cancel").addEventListener("click", () => { $("user-form").hidden = true; });
  $("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      if (editing) {
        await api("PATCH", "/api/v1/users/" + encodeURIComponent(editing), formBody(f));
        say("User " + editing + " saved.", false);
      } else {
        const b = formBody(f);
        await api("POST", "/api/v1/users", b);
        say("User " + b.name + " added.", false);
      }
      f.hidden = true;
      refresh();
    } catch (e) {
      $("user-status").textContent = e.message;
    }
  });
  api("GET", "/api/v1/me").then((r) => { csrf = r.csrf_token || ""; signedIn(r.admin); }, () => signedOut());
});
