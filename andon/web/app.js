// Shared code of the andon pages: API calls with the device's token, the live stream with
// reconnect and banner, DOM building, condition badges (colour + icon + word) and time formats.
"use strict";

const Andon = (() => {
  const TOKEN_KEY = "andon.token";
  // The page's texts in its language (the server puts them beside the page), such as
  // t("home.open_calls", { count: 3 }) for "{count} open". A key with no text shows as itself.
  const I18N = window.ANDON_I18N || { lang: "en", texts: {} };
  function t(key, fields) {
    const found = I18N.texts[key];
    if (found === undefined) { console.warn("andon: no text for " + key); return key; }
    return found.replace(/\{\{|\}\}|\{(\w+)\}/g, (mark, name) =>
      name === undefined ? mark[0] : (fields && fields[name] !== undefined ? String(fields[name]) : mark));
  }
  /** The entry of a word table for a key from the server, or undefined (no inherited "constructor"). */
  function own(table, key) { return Object.hasOwn(table, key) ? table[key] : undefined; }
  const LINE_COND = {
    normal: ["\u2714", t("app.cond_normal")], warning: ["\u25B2", t("app.cond_warning")],
    abnormal: ["\u2716", t("app.cond_abnormal")], off: ["\u25A0", t("app.cond_off")],
    stale: ["\u25CC", t("app.cond_stale")], pending: ["\u00B7", t("app.cond_pending")],
  };
  const ROW_COND = {
    normal: ["\u2714", t("app.row_met")], warning: ["\u25B2", t("app.row_behind")],
    abnormal: ["\u2716", t("app.row_missed")], off: ["\u25A0", t("app.cond_off")],
    stale: ["\u25CC", t("app.cond_stale")], pending: ["\u00B7", t("app.cond_pending")],
  };
  // The hour in progress is not missed yet: say how it is going.
  const CURRENT_ROW_COND = {
    ...ROW_COND, normal: ["\u2714", t("app.row_on_plan")], warning: ["\u25B2", t("app.row_behind")],
    abnormal: ["\u2716", t("app.row_far_behind")],
  };
  // Open andon calls are laid on top of the condition, as on the stack light: an escalated call
  // (waiting after climbing a tier) flashes red, a waiting one flashes yellow.
  const ANDON_SIGNAL = {
    escalated: ["\u2691", t("app.andon_escalated")], raised: ["\u2691", t("app.andon_waiting")],
    acknowledged: ["\u2691", t("app.andon_acknowledged")],
  };
  const TRUST_WORDS = {
    credited_after_outage: t("app.trust_credited_after_outage"), manual: t("app.trust_manual"),
    buffered: t("app.trust_buffered"), after_reset: t("app.trust_after_reset"),
    counter_reset: t("app.trust_counter_reset"), gap: t("app.trust_gap"),
  };
  // The built-in andon categories (the config's default) in the page's language; a plant's own show as written.
  const CATEGORY_WORDS = {
    quality: t("app.category_quality"), material: t("app.category_material"),
    maintenance: t("app.category_maintenance"), safety: t("app.category_safety"), help: t("app.category_help"),
  };
  function categoryName(category) { return own(CATEGORY_WORDS, category) || category; }
  let serverOffsetMs = 0;

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; this.detail = detail; }
  }

  function token() { try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } }
  const streams = [];  // live() states: a new token reconnects them so the stream takes it at once
  function setToken(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
    for (const s of streams) if (s.socket) { s.tokenChanged = true; s.socket.close(); }
  }

  let asking = null;  // one token dialog at a time, however many reads are refused meanwhile
  function askTokenOnce(why) {
    if (!asking) asking = askToken(why).finally(() => { asking = null; });
    return asking;
  }

  /**
   * Call the JSON API; throws ApiError with the server's `detail` on a 4xx/5xx. A read refused with
   * 401 (the plant keeps reads closed: auth.public_read false) asks for the device's token once and retries.
   */
  async function api(path, options = {}) {
    const headers = { Accept: "application/json" };
    const init = { method: options.method || "GET", headers };
    if (options.body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(options.body); }
    const saved = token();
    if (saved) headers.Authorization = "Bearer " + saved;
    const reply = await fetch(path, init);
    let data = null;
    const text = await reply.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
    if (!reply.ok) {
      const detail = data && data.detail ? data.detail : reply.status + " " + reply.statusText;
      if (reply.status === 401 && init.method === "GET" && !options.asked) {
        if (await askTokenOnce(t("app.token_reads", { detail }))) return api(path, { ...options, asked: true });
      }
      throw new ApiError(reply.status, typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return data;
  }

  /** Like api(), but on 401/403 ask for a token once and retry. */
  async function apiWithToken(path, options = {}) {
    try { return await api(path, options); } catch (e) {
      if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) throw e;
      const entered = await askToken(e.status === 401 ? t("app.token_needed", { detail: e.detail })
        : t("app.token_role", { detail: e.detail }));
      if (!entered) throw e;
      return api(path, options);
    }
  }

  /** Build an element: el("td", {class: "x", onclick: f}, "text", child). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function condText(condition, table) {
    const [icon, word] = (table || LINE_COND)[condition] || ["?", condition];
    return icon + " " + word;
  }
  function condBadge(condition, table) {
    return el("span", { class: "cond " + condition, "data-condition": condition }, condText(condition, table));
  }
  /** The badge of the open andon calls beside the condition badge (null without open calls). */
  function andonBadge(signal) {
    if (!signal) return null;
    const [icon, word] = own(ANDON_SIGNAL, signal) || ["\u2691", t("app.andon_other", { signal })];
    return el("span", { class: "cond andon " + signal, "data-andon": signal }, icon + " " + word);
  }
  /** A plan cell's text: the plan so far and the whole row's plan while the row runs, else the plan. */
  function planText(soFar, whole, current) { return current ? soFar + " / " + whole : String(whole); }
  function signed(v) { return v === null || v === undefined ? "" : (v > 0 ? "+" + v : String(v)); }
  function blank(v) { return v === null || v === undefined ? "" : String(v); }
  function hhmm(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }) : "";
  }
  function serverNow() { return Date.now() + serverOffsetMs; }
  function noteServerTime(iso) { if (iso) serverOffsetMs = Date.parse(iso) - Date.now(); }
  function ageSeconds(iso) { return Math.max(0, (serverNow() - Date.parse(iso)) / 1000); }
  function fmtAge(seconds) {
    const s = Math.floor(seconds);
    if (s < 60) return t("app.age_s", { s });
    if (s < 3600) return t("app.age_m_s", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
    return t("app.age_h_m", { h: Math.floor(s / 3600), m: String(Math.floor(s / 60) % 60).padStart(2, "0") });
  }
  function trustMark(marks) {
    if (!marks || !marks.length) return null;
    const words = marks.map((m) => own(TRUST_WORDS, m) || m.replace(/_/g, " "));
    return el("span", { class: "trust", title: t("app.trust_title", { marks: words.join(", ") }), "data-trust": marks.join(" ") },
      "\u26A0 " + words.join(", "));
  }
  /** A chip for an open andon call: category, station, age, tier (escalated ones blink). */
  function andonChip(call) {
    const escalated = (call.tier_index || 0) > 0;
    const chip = el("span", {
      class: "andon-chip " + call.state + (escalated ? " escalated" : ""), "data-andon-id": call.id,
      "data-raised-at": call.raised_at,
    });
    const render = () => {
      chip.textContent = "\u2691 " + categoryName(call.category) + " \u00B7 " + call.station + " \u00B7 " +
        fmtAge(ageSeconds(call.raised_at)) + " \u00B7 " + (call.state === "acknowledged" ? t("app.chip_ack") + " \u00B7 " : "") +
        (escalated ? "\u2191 " : "") + call.tier;
    };
    render();
    chip.tick = render;
    return chip;
  }
  /** Refresh every andon chip's age once a second. */
  setInterval(() => { for (const chip of document.querySelectorAll(".andon-chip")) if (chip.tick) chip.tick(); }, 1000);

  function message(text, kind) {
    const box = document.getElementById("message");
    if (!box) return;
    box.textContent = text || "";
    box.className = kind || "";
  }
  function showError(e) { message(e instanceof ApiError ? e.detail : t("app.unreachable", { error: e.message }), "error"); }

  /** Ask for the device's token in a dialog; resolves to true when one was saved. */
  function askToken(why) {
    return new Promise((resolve) => {
      const input = el("input", { type: "password", name: "token", autocomplete: "off", placeholder: t("app.token_placeholder") });
      const dialog = el("dialog", { id: "token-dialog" },
        el("form", { method: "dialog" },
          el("p", {}, why || t("app.token_prompt")),
          el("div", { class: "form-row" }, input,
            el("button", { class: "primary", value: "save" }, t("app.token_save")),
            el("button", { value: "cancel" }, t("app.cancel")))));
      dialog.addEventListener("close", () => {
        const ok = dialog.returnValue === "save" && input.value.trim() !== "";
        if (ok) setToken(input.value.trim());
        dialog.remove();
        resolve(ok);
      });
      document.body.append(dialog);
      dialog.showModal();
      input.focus();
    });
  }

  function startClock(node) {
    const tick = () => { node.textContent = new Date(serverNow()).toLocaleTimeString([], { hour12: false }); };
    tick();
    setInterval(tick, 1000);
  }

  // A fetch and a push can cross: a state read by a fetch and pushed for its line while the fetch was on its
  // way may be older than the push. The stream counts the states pushed per line; a page fetching a state
  // takes a mark first and drops what it read when a push for the line came meanwhile.
  const statePushes = new Map();  // line -> states pushed for it so far
  const lastPushed = new Map();  // line -> the latest state pushed for it
  function pushMark(line) { return statePushes.get(line) || 0; }
  function pushedSince(line, mark) { return pushMark(line) !== mark; }

  /** Fetch a line's state; null when a state for the line was pushed while the fetch was on its way. */
  async function freshState(line) {
    const mark = pushMark(line);
    const s = await api("/api/lines/" + encodeURIComponent(line) + "/state");
    return pushedSince(line, mark) ? null : s;
  }

  /** Take every line's mark before fetching them all. */
  function pushMarks() { return new Map(statePushes); }

  /**
   * The node for a fetched state s. When a state for its line was pushed since marks, the push is newer: the node
   * shown in box for it, else one made from it (a page that had not listed the line yet had nowhere to show it).
   */
  function fetchedNode(box, marks, s, make) {
    if (!pushedSince(s.line, marks.get(s.line) || 0)) return make(s);
    return box.querySelector('[data-line="' + CSS.escape(s.line) + '"]') || make(lastPushed.get(s.line));
  }

  /**
   * Keep a WebSocket to /ws open. onMessage gets each parsed message; refresh() is called on every
   * (re)connect and every pollSeconds while the stream is down, so the page never shows stale data as live.
   */
  function live({ onMessage, refresh, pollSeconds = 5 }) {
    let banner = document.getElementById("conn-banner");
    if (!banner) { banner = el("div", { id: "conn-banner", role: "status" }); document.body.prepend(banner); }
    banner.textContent = t("app.connection_lost");
    let delay = 500;
    let pollTimer = null;
    const state = { connected: false, socket: null };
    streams.push(state);
    let lostAt = null;
    const down = () => {
      state.connected = false;
      document.body.dataset.live = "down";
      banner.classList.add("show");
      if (!pollTimer && refresh) pollTimer = setInterval(() => refresh().catch(() => {}), pollSeconds * 1000);
      if (lostAt === null) { lostAt = Date.now(); followActive(() => state.connected); }
    };
    const connect = () => {
      // Browsers cannot set headers on a WebSocket, and a token in the URL would land in logs: the
      // token goes in the first message instead (a server with public reads ignores it).
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
      let socket;
      try { socket = new WebSocket(url); } catch (e) { down(); setTimeout(connect, delay); return; }
      state.socket = socket;
      socket.onopen = () => {
        // Always sent (empty without a token): a server with closed reads answers at once, not after its wait.
        socket.send(JSON.stringify({ type: "auth", token: token() }));
        state.connected = true;
        lostAt = null;
        delay = 500;
        document.body.dataset.live = "up";
        banner.classList.remove("show");
        if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
        if (refresh) refresh().catch(showError);
      };
      socket.onmessage = (event) => {
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "state" && msg.state) {
          noteServerTime(msg.state.at);
          statePushes.set(msg.line, pushMark(msg.line) + 1);
          lastPushed.set(msg.line, msg.state);
        }
        try { onMessage(msg); } catch (e) { console.error(e); }
      };
      socket.onclose = () => {
        down();
        if (state.tokenChanged) { state.tokenChanged = false; delay = 500; setTimeout(connect, 50); return; }
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 8000);
      };
    };
    connect();
    return state;
  }

  // An active/standby pair (availability.servers): while this page's stream is down, ask the other servers
  // every 2 s, from 3 s on, whether one is active; go to the same page there when one is.
  const PEERS = (I18N.servers || []).filter((u) => { try { return new URL(u).origin !== location.origin; } catch (e) { return false; } });
  function followActive(isUp) {
    if (!PEERS.length) return;
    const probe = async () => {
      if (isUp()) return;
      for (const base of PEERS) {
        try {
          const reply = await fetch(base.replace(/\/+$/, "") + "/healthz", { mode: "cors", cache: "no-store",
            signal: AbortSignal.timeout(1500) });
          const body = await reply.json();
          if (body.role === "active" && !isUp()) {
            location.replace(base.replace(/\/+$/, "") + location.pathname + location.search + location.hash);
            return;
          }
        } catch (e) { /* that one is away too */ }
      }
      setTimeout(probe, 2000);
    };
    setTimeout(probe, 3000);
  }

  // The server's reason for a line's condition, in English words (andon/takt.py): its known phrases in the
  // page's language, the rest (a source's own error) as written.
  const REASONS = {
    "no shift": () => t("app.reason_no_shift"), "break": () => t("app.reason_break"),
    "planned downtime": () => t("app.reason_planned_downtime"), "planned stop": () => t("app.reason_planned_stop"),
    "not scheduled": () => t("app.reason_not_scheduled"), "line stopped": () => t("app.reason_line_stopped"),
    "changeover": () => t("app.reason_changeover"), "changeover overrun": () => t("app.reason_changeover_overrun"),
    "on plan": () => t("app.reason_on_plan"), "ahead": () => t("app.reason_ahead"),
  };
  const REASON_PHRASES = [
    [/^(\d+) behind$/, (m) => t("app.reason_behind", { count: m[1] })],
    [/^connecting to (.+)$/, (m) => t("app.reason_connecting", { source: m[1] })],
    [/^no data from (.+)$/, (m) => t("app.reason_no_data", { source: m[1] })],
  ];
  function reasonText(reason) {
    if (!reason) return "";
    return String(reason).split("; ").map((part) => {
      if (Object.hasOwn(REASONS, part)) return REASONS[part]();
      for (const [pattern, say] of REASON_PHRASES) { const m = pattern.exec(part); if (m) return say(m); }
      return part;
    }).join("; ");
  }

  function params() { return new URLSearchParams(location.search); }

  // TV mode (board and plant pages): ?tv=1 turns it on, ?tv=0 off; without either it is on for a
  // full-screen 1080p or larger viewport (at least 1800 x 1000 CSS px). Sizes then follow the
  // viewport's height, so a 4K TV shows what a full-HD one shows, twice as many pixels high.
  const TV_MIN = { width: 1800, height: 1000 };
  function tvWanted() {
    const asked = params().get("tv");
    if (asked === "1" || asked === "0") return asked === "1";
    return innerWidth >= TV_MIN.width && innerHeight >= TV_MIN.height;
  }
  /** Turn TV mode on or off for this viewport (class "tv" on <html>); onChange runs after every resize. */
  function tvMode(onChange) {
    const apply = () => document.documentElement.classList.toggle("tv", tvWanted());
    apply();
    addEventListener("resize", () => { apply(); if (onChange) onChange(); });
    return document.documentElement.classList.contains("tv");
  }
  function isTv() { return document.documentElement.classList.contains("tv"); }

  // Cap height as a fraction of the font size, per font, from the font's own metrics.
  const capRatios = new Map();
  function capRatio(node) {
    const style = getComputedStyle(node);
    const key = style.fontWeight + " " + style.fontFamily;
    if (!capRatios.has(key)) {
      const ctx = document.createElement("canvas").getContext("2d");
      ctx.font = style.fontWeight + " 100px " + style.fontFamily;
      capRatios.set(key, ctx.measureText("H").actualBoundingBoxAscent / 100);
    }
    return capRatios.get(key);
  }
  /** The font size (px) whose capitals are `fraction` of the viewport's height, in `node`'s font. */
  function fontForCap(node, fraction) { return (fraction * innerHeight) / capRatio(node); }

  /**
   * Shrink a block's font (its style's size, else its sheet's) until its text fits its width;
   * never below minPx. Returns the size used.
   */
  function fitText(node, minPx = 8) {
    node.style.fontSize = "";
    let size = parseFloat(getComputedStyle(node).fontSize);
    for (let i = 0; i < 8 && node.scrollWidth > node.clientWidth && size > minPx; i++) {
      size = Math.max(minPx, Math.floor(size * Math.min(0.97, node.clientWidth / node.scrollWidth)));
      node.style.fontSize = size + "px";
    }
    return size;
  }

  /** Say what a line is making, from its state: product, since when, the work order's progress, a changeover. */
  function productText(s) {
    if (!s || !s.product) return "";
    const product = s.product.name;
    const parts = [s.product.since ? t("app.making_since", { product, time: hhmm(s.product.since) })
      : t("app.making", { product })];
    const wo = s.work_order;
    if (wo) {
      const order = { order: wo.id, made: wo.made, quantity: wo.quantity, remaining: wo.remaining };
      parts.push(!wo.quantity ? t("app.order_made", order)
        : wo.expected_finish ? t("app.order_progress_finish", { ...order, time: hhmm(wo.expected_finish) })
          : t("app.order_progress", order));
    }
    const co = s.changeover;
    if (co) {
      const change = { from_product: co.from_product || "?", to_product: co.to_product, since: hhmm(co.started_at),
                       minutes: Math.round(co.target_seconds / 60) };
      parts.push(co.overrun ? t("app.changeover_over", change)
        : co.target_end ? t("app.changeover_until", { ...change, until: hhmm(co.target_end) })
          : t("app.changeover_target", change));
    }
    if (s.scheduled === false) parts.push(t("app.not_scheduled"));
    return parts.join(" \u00B7 ");
  }

  return {
    t, lang: I18N.lang, categoryName, reasonText, productText, api, apiWithToken, ApiError, token, setToken, askToken, el, condBadge, andonBadge, planText, condText, ROW_COND,
    CURRENT_ROW_COND, LINE_COND,
    signed, blank, hhmm, fmtAge, ageSeconds, noteServerTime, serverNow, trustMark, andonChip, message, showError,
    startClock, live, freshState, pushMarks, fetchedNode, params, tvMode, isTv, capRatio, fontForCap, fitText,
  };
})();
