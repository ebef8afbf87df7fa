(function () {
  "use strict";
  // Everything that varies per operator comes from data-* attributes, so
  // this text never changes and the Content-Security-Policy can allow it by
  // hash.
  var app = document.getElementById("app");
  var template = document.getElementById("room-template");
  if (!app || !template) return;

  var WINDOW_MS = 15 * 60 * 1000; // what the charts show
  var GAP_MS = 5000; // samples further apart than this are not joined by a line
  // A browser opens at most six connections to one origin over HTTP/1.1,
  // and every live room holds one; the rest are for the API calls.
  var MAX_LIVE = 4;
  var ROOMS_EVERY_MS = 15000; // how often the room list is read again
  var SUMMARY_EVERY_MS = 10000; // how often collapsed rooms read their stats
  var QUIET_MS = 15000; // a stream with no event for this long is dead: the server sends one a second
  var RETRY_MAX_MS = 10000;
  var TOKEN_KEY = "usher:admin-token";
  var FIELDS = ["rate_per_minute", "max_active", "session"];
  var SKIP_IN_DIFF = { id: true, version: true, effective_rate_per_minute: true, ramp: true };
  var STATE_NAMES = { open: "Open", paused: "Paused", soldout: "Sold out", closed: "Closed", scheduled: "Scheduled", prequeue: "Pre-queue" };
  var ACTIONS = {
    pause: { pending: "Pausing…", done: "Paused" },
    resume: { pending: "Resuming…", done: "Resumed" },
    soldout: {
      pending: "Marking sold out…",
      done: "Marked sold out",
      ask: "Mark {room} sold out? This ends the sale for everyone waiting{waiting}: they are told at once.",
      yes: "Yes, mark it sold out"
    },
    close: {
      pending: "Closing…",
      done: "Closed",
      ask: "Close {room}? This ends the sale for everyone waiting{waiting}, at once.",
      yes: "Yes, close the sale"
    }
  };
  var AUDIT_WORDS = {
    patch: "changed the policy",
    pause: "paused the sale",
    resume: "resumed the sale",
    soldout: "marked it sold out",
    close: "closed the sale",
    config: "applied the configuration",
    auto_rate: "adapted the rate to the origin"
  };
  var CHARTS = [
    { k: "chart-waiting", name: "Waiting", unit: "people", series: [{ key: "waiting", color: "c1", fill: true }] },
    {
      k: "chart-admitted", name: "Admissions", unit: "per min",
      series: [{ key: "admitted", color: "c2", fill: true }, { key: "rate", color: "target", dash: true }]
    },
    { k: "chart-p95", name: "Origin p95", unit: "ms", series: [{ key: "p95", color: "c3", fill: true }] }
  ];

  var el = {
    banner: byId("banner"),
    login: byId("login"),
    token: byId("token"),
    tokenUse: byId("token-use"),
    loginError: byId("login-error"),
    forget: byId("forget"),
    tokenWho: byId("token-who"),
    who: byId("who"),
    role: byId("role"),
    toolbar: byId("toolbar"),
    pick: byId("pick"),
    pickLabel: document.querySelector("label[for=pick]"),
    viewerNote: byId("viewer-note"),
    rooms: byId("rooms"),
    empty: byId("empty")
  };

  var data = app.dataset;
  var auth = data.auth === "session" ? "session" : "token";
  var csrf = data.csrf || "";
  var role = "";
  var token = auth === "token" ? load(TOKEN_KEY) || "" : "";
  var signedIn = false;
  // epoch counts sign-outs: an answer to a request of an older epoch is
  // dropped, so nothing of a forgotten token reaches the page again.
  var epoch = 0;
  var cards = [];
  var cardOf = {};
  var timers = { start: 0, rooms: 0, summary: 0 };
  var bannerOwner = "";
  var cardCount = 0;
  var openCount = 0;
  var pickKey = "";
  var numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

  if (!window.fetch || !window.AbortController || !window.TextDecoder) {
    banner("This browser is too old for the dashboard: it needs fetch streams.", "");
    return;
  }

  // ---- small helpers ----

  function byId(id) {
    return document.getElementById(id);
  }
  function noop() {}
  function never() {
    return new Promise(noop);
  }
  // Session storage may be missing or throw (private modes, blocked site data).
  function load(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
  }
  function save(key, value) {
    try { window.sessionStorage.setItem(key, value); } catch (e) { /* kept in memory only */ }
  }
  function drop(key) {
    try { window.sessionStorage.removeItem(key); } catch (e) { /* nothing to drop */ }
  }
  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function make(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }
  function num(v) {
    return isNum(v) ? numberFormat.format(v) : "–";
  }
  function compact(v) {
    if (v >= 1e6) return numberFormat.format(v / 1e6) + "M";
    if (v >= 1e4) return numberFormat.format(v / 1e3) + "k";
    return numberFormat.format(v);
  }
  function percent(ratio) {
    var p = ratio * 100;
    return (p > 0 && p < 10 ? p.toFixed(1) : p.toFixed(0)) + "%";
  }
  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }
  // clock is a time of day in the operator's time zone: "12:03" or "12:03:10".
  function clock(t, seconds) {
    var d = new Date(t);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + (seconds ? ":" + pad(d.getSeconds()) : "");
  }
  // when is a past moment: its time of day if it was today, with the date otherwise.
  function when(t) {
    var d = new Date(t);
    if (d.toDateString() === new Date().toDateString()) return clock(t, true);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(t, false);
  }
  function waitText(s) {
    if (!isNum(s) || s < 0) return "unknown";
    if (s < 60) return Math.round(s) + " s";
    var m = Math.round(s / 60);
    if (m < 60) return m + " min";
    return Math.floor(m / 60) + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
  }

  // durationMs reads a duration as Go writes and parses it ("1h30m0s",
  // "10m", "1.5s"), in milliseconds; NaN when it is not one.
  var UNIT_MS = { h: 3600000, m: 60000, s: 1000, ms: 1, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ns: 1e-6 };
  function durationMs(text) {
    var s = String(text === undefined || text === null ? "" : text).trim();
    if (s === "0") return 0;
    var re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
    var total = 0, at = 0, m;
    while ((m = re.exec(s)) !== null) {
      if (m.index !== at) return NaN;
      total += parseFloat(m[1]) * UNIT_MS[m[2]];
      at = re.lastIndex;
    }
    return at > 0 && at === s.length ? total : NaN;
  }
  // shortDuration drops Go's zero tails: "10m0s" is "10m", "1h0m0s" is "1h".
  function shortDuration(text) {
    return String(text).replace(/(\D)0s$/, "$1").replace(/(\D)0m$/, "$1");
  }
  function fieldText(field, v) {
    if (field === "session") return typeof v === "string" ? shortDuration(v) : "";
    return isNum(v) ? String(v) : "";
  }
  function show(v) {
    if (v === null || v === undefined) return "none";
    if (isNum(v)) return num(v);
    if (typeof v === "string") return isFinite(durationMs(v)) && /[a-zµμ]$/.test(v) ? shortDuration(v) : v;
    return JSON.stringify(v);
  }
  // changes lists the fields that differ between two rooms, as
  // [field, before, after] in words.
  function changes(before, after) {
    var out = [];
    if (!after || typeof after !== "object") return out;
    var keys = Object.keys(after);
    Object.keys(before || {}).forEach(function (k) {
      if (!(k in after)) keys.push(k);
    });
    keys.forEach(function (k) {
      if (SKIP_IN_DIFF[k]) return;
      var a = before ? before[k] : undefined;
      if (JSON.stringify(a) === JSON.stringify(after[k])) return;
      out.push([k, show(a), show(after[k])]);
    });
    return out;
  }
  function changeLines(before, after) {
    return changes(before, after).map(function (c) {
      return c[0] + ": " + c[1] + " → " + c[2];
    });
  }

  // ---- the banner: one message for the whole page ----

  // banner shows text, with a button when action is given; owner names who
  // set it, so that whoever clears it clears only their own message.
  function banner(text, owner, label, action) {
    clear(el.banner);
    bannerOwner = text ? owner : "";
    if (!text) return;
    el.banner.appendChild(document.createTextNode(text));
    if (label) {
      var b = make("button", "quiet", label);
      b.type = "button";
      b.addEventListener("click", action);
      el.banner.appendChild(b);
    }
  }
  function unbanner(owner) {
    if (bannerOwner === owner) banner("", "");
  }

  // ---- the admin API ----

  function headers(write, accept) {
    var h = { Accept: accept || "application/json" };
    if (auth === "token") h.Authorization = "Bearer " + token;
    else if (write) h["X-CSRF-Token"] = csrf;
    return h;
  }

  // call sends one request to the admin API and resolves to its status and
  // its JSON answer. It rejects only when no answer came. After a 401, or
  // once the operator signed out, it never settles: nothing waits for it.
  function call(method, path, body) {
    var mine = epoch;
    var init = { method: method, headers: headers(method !== "GET"), credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (mine !== epoch) return never();
        if (r.status === 401) {
          unauthorized();
          return never();
        }
        return { status: r.status, ok: r.ok, data: json };
      });
    }, function (err) {
      if (mine !== epoch) return never();
      throw err;
    });
  }
  function errorText(res) {
    var d = res.data;
    if (d && typeof d.error === "string" && d.error) return d.error;
    return "HTTP " + res.status;
  }

  // readEvents reads a Server-Sent Events stream and calls emit with each
  // event's name and data; it resolves when the stream ends.
  function readEvents(reader, emit) {
    var decoder = new TextDecoder();
    var buf = "", name = "", lines = [];
    function line(l) {
      if (l === "") {
        if (lines.length) emit(name || "message", lines.join("\n"));
        name = "";
        lines = [];
        return;
      }
      if (l.charAt(0) === ":") return;
      var i = l.indexOf(":");
      var field = i < 0 ? l : l.slice(0, i);
      var value = i < 0 ? "" : l.slice(i + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") lines.push(value);
    }
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buf += decoder.decode(chunk.value, { stream: true });
        var start = 0;
        for (var i = 0; i < buf.length; i++) {
          var c = buf.charCodeAt(i);
          if (c !== 10 && c !== 13) continue;
          // A CR at the end of a chunk may be the first half of a CRLF.
          if (c === 13 && i + 1 === buf.length) break;
          line(buf.slice(start, i));
          if (c === 13 && buf.charCodeAt(i + 1) === 10) i++;
          start = i + 1;
        }
        buf = buf.slice(start);
        return pump();
      });
    }
    return pump();
  }

  // ---- signing in and out ----

  function start() {
    clearTimeout(timers.start);
    if (auth === "token" && !token) {
      showLogin("");
      return;
    }
    var mine = epoch;
    call("GET", "/api/me").then(function (res) {
      if (!res.ok || !res.data) throw new Error(errorText(res));
      signedIn = true;
      showMe(res.data);
      unbanner("start");
      el.toolbar.hidden = false;
      refreshRooms();
      timers.summary = setTimeout(refreshSummaries, SUMMARY_EVERY_MS);
    }).catch(function (err) {
      if (mine !== epoch) return;
      banner("The admin API is not answering (" + err.message + "). Trying again…", "start");
      timers.start = setTimeout(start, 5000);
    });
  }

  function showMe(me) {
    setRole(me.role);
    if (typeof me.who === "string" && me.who) setText(el.who, me.who);
    if (auth === "token") {
      el.tokenWho.hidden = false;
      el.forget.hidden = false;
    }
  }

  function setRole(r) {
    role = r === "operator" || r === "viewer" ? r : "";
    setText(el.role, role);
    el.viewerNote.hidden = role !== "viewer";
    cards.forEach(function (c) { c.controls(); });
  }

  // endSession stops everything that talks to the API.
  function endSession() {
    epoch++;
    signedIn = false;
    clearTimeout(timers.start);
    clearTimeout(timers.rooms);
    clearTimeout(timers.summary);
    cards.forEach(function (c) {
      c.stop();
      c.controls();
    });
  }

  function clearRooms() {
    cards.forEach(function (c) { c.el.remove(); });
    cards = [];
    cardOf = {};
    pickKey = "";
    el.toolbar.hidden = true;
    el.empty.hidden = true;
  }

  function unauthorized() {
    var had = token;
    endSession();
    if (auth === "token") {
      clearRooms();
      token = "";
      drop(TOKEN_KEY);
      banner("", "");
      showLogin(had ? "The admin API did not accept this token. Paste a valid one." : "");
      return;
    }
    banner("Your session has ended, so the figures have stopped.", "session", "Sign in again", function () {
      location.reload();
    });
  }

  function showLogin(message) {
    el.login.hidden = false;
    el.tokenWho.hidden = true;
    el.forget.hidden = true;
    setText(el.loginError, message);
    el.token.setAttribute("aria-invalid", message ? "true" : "false");
    el.token.value = "";
    el.token.focus();
  }

  function useToken() {
    var t = el.token.value.trim();
    var problem = "";
    if (!t) problem = "Paste the admin token first.";
    else if (!/^[\x21-\x7e]+$/.test(t)) problem = "A token is printable ASCII without spaces: check what you pasted.";
    if (problem) {
      setText(el.loginError, problem);
      el.token.setAttribute("aria-invalid", "true");
      el.token.focus();
      return;
    }
    token = t;
    save(TOKEN_KEY, t);
    el.token.value = "";
    setText(el.loginError, "");
    el.login.hidden = true;
    banner("", "");
    start();
  }

  function forgetToken() {
    endSession();
    clearRooms();
    token = "";
    drop(TOKEN_KEY);
    showLogin("");
    banner("The token is forgotten: this tab no longer holds it.", "forget");
  }

  // ---- the rooms ----

  function loadRooms() {
    return call("GET", "/api/rooms").then(function (res) {
      if (!res.ok || !Array.isArray(res.data)) throw new Error(errorText(res));
      syncRooms(res.data);
    });
  }

  function refreshRooms() {
    clearTimeout(timers.rooms);
    var mine = epoch;
    loadRooms().then(function () {
      unbanner("rooms");
    }, function (err) {
      banner("Cannot read the rooms (" + err.message + "). Trying again…", "rooms");
    }).then(function () {
      if (mine === epoch) timers.rooms = setTimeout(refreshRooms, ROOMS_EVERY_MS);
    });
  }

  // refreshSummaries reads the stats of the collapsed rooms, one after the
  // other, so that their headers stay current without a stream each.
  function refreshSummaries() {
    clearTimeout(timers.summary);
    var mine = epoch;
    var chain = Promise.resolve();
    cards.forEach(function (c) {
      if (!c.open && !c.el.hidden) chain = chain.then(function () { return c.loadStats(); });
    });
    chain.then(function () {
      if (mine === epoch) timers.summary = setTimeout(refreshSummaries, SUMMARY_EVERY_MS);
    });
  }

  function syncRooms(list) {
    var first = cards.length === 0;
    var live = first ? 0 : liveCount();
    var seen = {};
    var next = [];
    list.forEach(function (r) {
      if (!r || typeof r.id !== "string" || seen[r.id]) return;
      seen[r.id] = true;
      var c = cardOf[r.id];
      if (c) {
        c.setRoom(r, false);
      } else {
        var open = first ? list.length <= MAX_LIVE || next.length === 0 : live < MAX_LIVE;
        if (open) live++;
        c = new Card(r, open);
        cardOf[r.id] = c;
        // The figures show at once, not only with the stream's first stats.
        c.loadStats();
      }
      next.push(c);
    });
    cards.forEach(function (c) {
      if (seen[c.id]) return;
      c.stop();
      c.el.remove();
      delete cardOf[c.id];
    });
    cards = next;
    // Move a card only when it is out of place: a moved element loses focus.
    cards.forEach(function (c, i) {
      if (el.rooms.children[i] !== c.el) el.rooms.insertBefore(c.el, el.rooms.children[i] || null);
    });
    el.empty.hidden = cards.length > 0;
    updatePick();
    applyPick();
  }

  function liveCount() {
    return cards.filter(function (c) { return c.open && !c.el.hidden; }).length;
  }

  function updatePick() {
    var key = cards.map(function (c) { return c.id + "\n" + c.name(); }).join("\n");
    var many = cards.length > 1;
    el.pick.hidden = !many;
    el.pickLabel.hidden = !many;
    if (key === pickKey) return;
    pickKey = key;
    var value = el.pick.value;
    while (el.pick.options.length > 1) el.pick.remove(1);
    el.pick.options[0].textContent = "All rooms (" + cards.length + ")";
    cards.forEach(function (c) {
      var o = make("option", "", c.name() + " (" + c.id + ")");
      o.value = c.id;
      el.pick.appendChild(o);
    });
    el.pick.value = cardOf[value] ? value : "";
  }

  function applyPick() {
    var id = el.pick.value;
    cards.forEach(function (c) {
      c.el.hidden = id !== "" && c.id !== id;
      if (c.id === id && !c.open) c.setOpen(true);
    });
    limitLive(null);
    cards.forEach(function (c) { c.sync(); });
  }

  // limitLive collapses the rooms opened longest ago while more than
  // MAX_LIVE are open, never keep.
  function limitLive(keep) {
    var live = cards.filter(function (c) { return c.open && !c.el.hidden; });
    if (live.length <= MAX_LIVE) return;
    live.sort(function (a, b) { return a.openedAt - b.openedAt; });
    var closed = [];
    for (var i = 0; i < live.length && live.length - closed.length > MAX_LIVE; i++) {
      if (live[i] === keep) continue;
      live[i].setOpen(false);
      closed.push(live[i].name());
    }
    banner("At most " + MAX_LIVE + " rooms show live figures at once, so " + closed.join(", ") +
      (closed.length === 1 ? " was" : " were") + " collapsed.", "limit");
  }

  // ---- one room's card ----

  function Card(room, open) {
    var self = this;
    var prefix = "room" + (++cardCount) + "-";
    this.el = template.content.firstElementChild.cloneNode(true);
    this.k = {};
    Array.prototype.forEach.call(this.el.querySelectorAll("[data-k]"), function (n) {
      self.k[n.getAttribute("data-k")] = n;
    });
    var k = this.k;
    k.name.id = prefix + "name";
    this.el.setAttribute("aria-labelledby", k.name.id);
    k.body.id = prefix + "body";
    k.toggle.setAttribute("aria-controls", k.body.id);
    k["confirm-text"].id = prefix + "confirm";
    k.confirm.setAttribute("aria-labelledby", k["confirm-text"].id);
    FIELDS.forEach(function (f) {
      var input = k[f];
      var problem = k["problem-" + f];
      input.id = prefix + f;
      problem.id = prefix + "problem-" + f;
      input.setAttribute("aria-describedby", problem.id);
      self.el.querySelector("label[data-for=" + f + "]").htmlFor = input.id;
      input.addEventListener("input", function () { self.problem(f, ""); });
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") self.preview();
      });
    });

    this.id = room.id;
    this.room = null;
    this.stats = null;
    this.state = "";
    this.samples = [];
    this.base = {};
    this.open = false;
    this.openedAt = 0;
    this.ctl = null;
    this.retryTimer = 0;
    this.quietTimer = 0;
    this.failures = 0;
    this.busy = false;
    this.asking = "";
    this.drawing = false;
    this.auditLoaded = false;

    k.toggle.addEventListener("click", function () {
      self.setOpen(!self.open);
      if (self.open) limitLive(self);
      cards.forEach(function (c) { c.sync(); });
    });
    k.preview.addEventListener("click", function () { self.preview(); });
    k.apply.addEventListener("click", function () { self.apply(); });
    Object.keys(ACTIONS).forEach(function (a) {
      k[a].addEventListener("click", function () { self.ask(a); });
    });
    k["confirm-yes"].addEventListener("click", function () { self.act(self.asking); });
    k["confirm-no"].addEventListener("click", function () { self.unask(true); });
    k.confirm.addEventListener("keydown", function (e) {
      if (e.key === "Escape") self.unask(true);
    });
    k["audit-reload"].addEventListener("click", function () { self.loadAudit(); });

    this.setRoom(room, true);
    this.setOpen(open);
  }

  Card.prototype.name = function () {
    return (this.room && this.room.name) || this.id;
  };

  Card.prototype.path = function (suffix) {
    return "/api/rooms/" + encodeURIComponent(this.id) + (suffix || "");
  };

  Card.prototype.setOpen = function (open) {
    this.open = open;
    if (open) this.openedAt = ++openCount;
    this.el.classList.toggle("open", open);
    this.k.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    this.k.body.hidden = !open;
    if (!open) return;
    if (!this.auditLoaded) this.loadAudit();
    this.draw();
  };

  // setRoom shows a room as the API described it. An input keeps what the
  // operator typed into it unless reset is set.
  Card.prototype.setRoom = function (room, reset) {
    var self = this;
    var old = this.room;
    this.room = room;
    setText(this.k.name, room.name || room.id);
    setText(this.k.id, room.id);
    setText(this.k.max, num(room.max_active));
    if (typeof room.state === "string") this.setState(room.state);
    FIELDS.forEach(function (f) {
      var v = fieldText(f, room[f]);
      var input = self.k[f];
      if (reset || input.value === (self.base[f] || "")) input.value = v;
      self.base[f] = v;
    });
    this.showRate();
    this.summary();
    if (old && old.version !== room.version && this.auditLoaded) this.loadAudit();
  };

  Card.prototype.setState = function (state) {
    this.state = state;
    var b = this.k.badge;
    setText(b, STATE_NAMES[state] || state);
    b.className = "badge " + (STATE_NAMES[state] ? state : "");
    this.controls();
  };

  // controls enables what the operator may do now.
  Card.prototype.controls = function () {
    var k = this.k, s = this.state;
    var can = signedIn && role === "operator";
    k.viewer.hidden = role !== "viewer";
    k.policy.disabled = !can;
    k.states.disabled = !can;
    k.pause.disabled = s !== "open";
    k.resume.disabled = s === "open" || s === "";
    k.soldout.disabled = s === "soldout" || s === "closed";
    k.close.disabled = s === "closed";
    if (!can) this.unask(false);
  };

  Card.prototype.summary = function () {
    var s = this.stats;
    var parts = [];
    if (s && isNum(s.waiting)) parts.push(num(s.waiting) + " waiting");
    var rate = s && isNum(s.effective_rate_per_minute) ? s.effective_rate_per_minute : this.room && this.room.effective_rate_per_minute;
    if (isNum(rate)) parts.push(num(rate) + "/min");
    setText(this.k.summary, parts.join(" · "));
  };

  Card.prototype.showStats = function (s) {
    if (!s || typeof s !== "object") return;
    var k = this.k;
    this.stats = s;
    if (typeof s.state === "string") this.setState(s.state);
    setText(k.waiting, num(s.waiting));
    setText(k.joins, isNum(s.joins_last_minute) ? "+" + num(s.joins_last_minute) + " joined in the last minute" : "");
    setText(k.active, num(s.active));
    setText(k.offered, s.offered > 0 ? num(s.offered) + " offered, not claimed yet" : "");
    setText(k.admitted, num(s.admitted_last_minute));
    setText(k["admitted-total"], isNum(s.admitted_total) ? num(s.admitted_total) + " in total" : "");
    setText(k.eta, s.waiting === 0 ? "no wait" : waitText(s.eta_last_seconds));
    var o = s.origin || {};
    setText(k.p95, isNum(o.p95_ms) ? num(Math.round(o.p95_ms)) + " ms" : "–");
    var origin = [];
    if (isNum(o.error_rate)) origin.push(percent(o.error_rate) + " errors");
    if (isNum(o.p50_ms)) origin.push("p50 " + num(Math.round(o.p50_ms)) + " ms");
    if (isNum(o.requests_last_minute)) origin.push(num(o.requests_last_minute) + " requests/min");
    setText(k.origin, origin.join(" · "));
    // The head of the admission log, which the venue can publish and
    // anyone can check the log against (GET /_usher/admissions).
    var log = s.admission_log;
    k.chain.hidden = !log;
    if (log) {
      setText(k.chain, "Admission log: " + num(log.entries) + " batches through place " + num(log.through) +
        (log.gaps > 0 ? " (" + num(log.gaps) + " places unrecorded)" : "") + " · head " + log.head);
    }
    // The warning is an alert: it is worded once, when the store stops
    // answering, so that a screen reader says it once.
    var stale = s.fresh === false;
    if (stale && k.stale.hidden) {
      var at = Date.parse(s.at);
      setText(k.stale, "The queue store is not answering, so these figures may be out of date" +
        (isFinite(at) ? " (last read at " + clock(at, true) + ")." : "."));
    }
    k.stale.hidden = !stale;
    this.showRate();
    this.summary();
  };

  Card.prototype.showRate = function () {
    var r = this.room, s = this.stats;
    var rate = s && isNum(s.effective_rate_per_minute) ? s.effective_rate_per_minute : r && r.effective_rate_per_minute;
    setText(this.k.rate, num(rate));
    var text = "";
    var now = s && isFinite(Date.parse(s.at)) ? Date.parse(s.at) : Date.now();
    var ramp = r && r.ramp;
    var ends = ramp ? Date.parse(ramp.ends_at) : NaN;
    if (ramp && ends > now) {
      text = "ramping " + num(ramp.from) + " → " + num(ramp.to) + "/min, until " + clock(ends, true);
    } else if (r && isNum(rate) && isNum(r.rate_per_minute) && rate !== r.rate_per_minute) {
      text = "set to " + num(r.rate_per_minute) + "/min";
    }
    setText(this.k.ramp, text);
  };

  Card.prototype.loadStats = function () {
    var self = this;
    return call("GET", this.path("/stats")).then(function (res) {
      if (res.ok) self.showStats(res.data);
    }, noop);
  };

  // ---- the live stream ----

  Card.prototype.live = function () {
    return signedIn && this.open && !this.el.hidden && document.visibilityState !== "hidden";
  };

  Card.prototype.sync = function () {
    if (this.live()) this.connect();
    else this.stop();
  };

  Card.prototype.stop = function () {
    clearTimeout(this.retryTimer);
    clearTimeout(this.quietTimer);
    this.retryTimer = 0;
    var ctl = this.ctl;
    this.ctl = null;
    if (ctl) ctl.abort();
    this.setLive("", false);
  };

  Card.prototype.setLive = function (text, on) {
    setText(this.k.live, text);
    this.k.live.classList.toggle("on", on);
  };

  // quiet aborts the stream when it stays silent, which a connection that
  // died without closing does.
  Card.prototype.quiet = function (ctl) {
    var self = this;
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(function () {
      if (self.ctl === ctl) ctl.abort();
    }, QUIET_MS);
  };

  // connect reads the room's event stream with fetch, since EventSource
  // cannot send a bearer token, and reconnects with a growing delay when
  // the stream ends or fails.
  Card.prototype.connect = function () {
    if (this.ctl || this.retryTimer) return;
    var self = this, mine = epoch;
    var ctl = new AbortController();
    this.ctl = ctl;
    this.setLive("Connecting…", false);
    this.quiet(ctl);
    fetch(this.path("/events"), {
      headers: headers(false, "text/event-stream"),
      credentials: "same-origin",
      cache: "no-store",
      signal: ctl.signal
    }).then(function (r) {
      if (r.status === 401 && mine === epoch) return unauthorized();
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      return readEvents(r.body.getReader(), function (name, text) {
        if (self.ctl === ctl) self.onEvent(ctl, name, text);
      });
    }).catch(noop).then(function () {
      if (self.ctl !== ctl) return; // stopped on purpose
      self.ctl = null;
      clearTimeout(self.quietTimer);
      if (!self.live()) return;
      self.failures++;
      var ms = Math.min(RETRY_MAX_MS, 500 * Math.pow(2, self.failures - 1) * (0.8 + 0.4 * Math.random()));
      self.setLive("Reconnecting in " + Math.max(1, Math.round(ms / 1000)) + " s…", false);
      self.retryTimer = setTimeout(function () {
        self.retryTimer = 0;
        self.sync();
      }, ms);
    });
  };

  Card.prototype.onEvent = function (ctl, name, text) {
    var msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (!msg || typeof msg !== "object") return;
    this.failures = 0;
    this.quiet(ctl);
    this.setLive("Live", true);
    if (name === "history") {
      this.samples = [];
      var list = Array.isArray(msg.samples) ? msg.samples : [];
      for (var i = 0; i < list.length; i++) this.addSample(historySample(list[i]));
    } else if (name === "stats") {
      this.showStats(msg);
      this.addSample(statsSample(msg));
    } else {
      return;
    }
    this.draw();
  };

  function historySample(s) {
    if (!s) return null;
    return {
      t: Date.parse(s.at), waiting: s.waiting, active: s.active, admitted: s.admitted_last_minute,
      p95: s.origin_p95_ms, rate: s.effective_rate_per_minute
    };
  }
  function statsSample(s) {
    return {
      t: Date.parse(s.at), waiting: s.waiting, active: s.active, admitted: s.admitted_last_minute,
      p95: s.origin ? s.origin.p95_ms : null, rate: s.effective_rate_per_minute
    };
  }

  // addSample appends a sample in time order and forgets what falls out of
  // the window. A sample for the same second replaces the last one.
  Card.prototype.addSample = function (s) {
    if (!s || !isFinite(s.t)) return;
    var list = this.samples;
    var last = list[list.length - 1];
    if (last && s.t < last.t) return;
    if (last && s.t === last.t) list[list.length - 1] = s;
    else list.push(s);
    var from = s.t - WINDOW_MS;
    var drop = 0;
    while (drop < list.length && list[drop].t < from) drop++;
    if (drop) list.splice(0, drop);
  };

  // ---- the charts ----

  Card.prototype.draw = function () {
    var self = this;
    if (this.drawing) return;
    this.drawing = true;
    window.requestAnimationFrame(function () {
      self.drawing = false;
      if (!self.open || self.el.hidden) return;
      var colors = palette();
      CHARTS.forEach(function (c) { drawChart(self.k[c.k], self.samples, c, colors); });
    });
  };

  function palette() {
    var css = window.getComputedStyle(document.documentElement);
    var out = {};
    ["text", "muted", "grid", "c1", "c2", "c3", "target"].forEach(function (name) {
      out[name] = css.getPropertyValue("--" + name).trim() || "#888";
    });
    return out;
  }

  // niceStep is the step between two gridlines for values up to top: 1, 2
  // or 5 times a power of ten, at least 1.
  function niceStep(top) {
    var raw = top / 4;
    if (!(raw > 1)) return 1;
    var p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  function drawChart(canvas, samples, chart, colors) {
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    var dpr = window.devicePixelRatio || 1;
    var pw = Math.round(w * dpr), ph = Math.round(h * dpr);
    if (canvas.width !== pw) canvas.width = pw;
    if (canvas.height !== ph) canvas.height = ph;
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

    var end = samples.length ? samples[samples.length - 1].t : Date.now();
    var start = end - WINDOW_MS;
    var high = 0, now = null;
    samples.forEach(function (s) {
      chart.series.forEach(function (se) {
        if (isNum(s[se.key]) && s[se.key] > high) high = s[se.key];
      });
    });
    if (samples.length) now = samples[samples.length - 1][chart.series[0].key];
    var step = niceStep(high * 1.05);
    var top = step * Math.max(1, Math.ceil(high * 1.05 / step));
    var labels = [];
    for (var v = 0; v <= top + step / 2; v += step) labels.push([v, compact(v)]);
    var left = 0;
    labels.forEach(function (l) { left = Math.max(left, ctx.measureText(l[1]).width); });
    left = Math.ceil(left) + 8;
    var right = 8, above = 20, below = 20;
    var plotW = Math.max(1, w - left - right), plotH = Math.max(1, h - above - below);
    function x(t) { return left + (t - start) / WINDOW_MS * plotW; }
    function y(val) { return above + plotH - val / top * plotH; }

    // The unit of the values, above their axis.
    ctx.fillStyle = colors.muted;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(chart.unit, 0, 2);

    ctx.lineWidth = 1;
    ctx.strokeStyle = colors.grid;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    labels.forEach(function (l) {
      var yy = Math.round(y(l[0])) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, yy);
      ctx.lineTo(w - right, yy);
      ctx.stroke();
      ctx.fillText(l[1], left - 6, yy);
    });

    // Time of day every five minutes, and "now" at the right end.
    ctx.textBaseline = "top";
    ctx.textAlign = "center";
    var tick = 5 * 60 * 1000;
    for (var t = Math.ceil(start / tick) * tick; t <= end; t += tick) {
      var xx = Math.round(x(t)) + 0.5;
      if (w - right - xx < 56) continue; // leave room for "now"
      ctx.beginPath();
      ctx.moveTo(xx, above);
      ctx.lineTo(xx, above + plotH + 4);
      ctx.stroke();
      ctx.fillText(clock(t, false), Math.max(xx, left + 16), h - below + 5);
    }
    ctx.textAlign = "right";
    ctx.fillText("now", w - right, h - below + 5);

    chart.series.forEach(function (se) {
      var segs = [], seg = [];
      samples.forEach(function (s, i) {
        var val = s[se.key];
        if (!isNum(val) || (i > 0 && s.t - samples[i - 1].t > GAP_MS)) {
          if (seg.length) segs.push(seg);
          seg = [];
        }
        if (isNum(val) && s.t >= start) seg.push([x(s.t), y(val)]);
      });
      if (seg.length) segs.push(seg);
      var color = colors[se.color];
      if (se.fill) {
        ctx.globalAlpha = 0.16;
        ctx.fillStyle = color;
        segs.forEach(function (pts) {
          ctx.beginPath();
          ctx.moveTo(pts[0][0], y(0));
          pts.forEach(function (p) { ctx.lineTo(p[0], p[1]); });
          ctx.lineTo(pts[pts.length - 1][0], y(0));
          ctx.closePath();
          ctx.fill();
        });
        ctx.globalAlpha = 1;
      }
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = se.dash ? 1.5 : 2;
      ctx.lineJoin = "round";
      ctx.setLineDash(se.dash ? [5, 4] : []);
      segs.forEach(function (pts) {
        if (pts.length === 1) {
          ctx.fillRect(pts[0][0] - 1.5, pts[0][1] - 1.5, 3, 3);
          return;
        }
        ctx.beginPath();
        pts.forEach(function (p, i) {
          if (i) ctx.lineTo(p[0], p[1]);
          else ctx.moveTo(p[0], p[1]);
        });
        ctx.stroke();
      });
      ctx.setLineDash([]);
    });

    if (!samples.length) {
      ctx.fillStyle = colors.muted;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("Waiting for data…", left + plotW / 2, above + plotH / 2);
    }
    canvas.setAttribute("aria-label", chart.name + " over the last 15 minutes, in " + chart.unit +
      (isNum(now) ? ": now " + num(now) + ", highest " + num(high) : ": no data yet"));
  }

  // ---- the controls ----

  // result says how an action went. On a phone the region can be below the
  // fold, so it is scrolled into view, as little as needed.
  Card.prototype.result = function (kind, text, items) {
    var box = this.k.result;
    clear(box);
    box.className = "result" + (kind ? " " + kind : "");
    if (!text) return;
    box.appendChild(make("p", "", text));
    if (items && items.length) {
      var ul = make("ul");
      items.forEach(function (i) { ul.appendChild(make("li", "", i)); });
      box.appendChild(ul);
    }
    if (box.scrollIntoView) box.scrollIntoView({ block: "nearest" });
  };

  Card.prototype.problem = function (field, text) {
    setText(this.k["problem-" + field], text);
    this.k[field].setAttribute("aria-invalid", text ? "true" : "false");
  };

  // edits is the merge body of what the operator changed, or null after
  // saying why there is nothing to send.
  Card.prototype.edits = function () {
    var self = this, k = this.k, r = this.room;
    var body = {}, bad = null;
    function fail(field, text) {
      self.problem(field, text);
      bad = bad || k[field];
    }
    FIELDS.forEach(function (f) { self.problem(f, ""); });

    var rateText = k.rate_per_minute.value.trim();
    var rate = Number(rateText);
    if (rateText === "" || !isFinite(rate)) fail("rate_per_minute", "Enter a number of visitors per minute.");
    else if (rate !== r.rate_per_minute) body.rate_per_minute = rate;

    var maxText = k.max_active.value.trim();
    var max = Number(maxText);
    if (maxText === "" || Math.floor(max) !== max) fail("max_active", "Enter a whole number of visitors.");
    else if (max !== r.max_active) body.max_active = max;

    var session = k.session.value.trim();
    if (session === "") fail("session", "Enter a duration such as 10m or 1h30m.");
    else if (durationMs(session) !== durationMs(r.session)) body.session = session;

    if (bad) {
      this.result("error", "Fix the marked values first.");
      bad.focus();
      return null;
    }
    // Only what the operator changed goes out: the API applies a merge
    // patch, so a field someone else changed meanwhile keeps their value.
    if (!Object.keys(body).length) {
      this.result("info", "Nothing to change: these are the room's current values.");
      return null;
    }
    return body;
  };

  // send runs one action of the operator; one at a time per room. It
  // resolves to the answer, or to null when there is none.
  Card.prototype.send = function (method, path, body, pending, changing) {
    var self = this;
    if (this.busy) return Promise.resolve(null);
    this.busy = true;
    this.k.body.setAttribute("aria-busy", "true");
    this.result("info", pending);
    function done() {
      self.busy = false;
      self.k.body.removeAttribute("aria-busy");
    }
    return call(method, path, body).then(function (res) {
      done();
      return res;
    }, function (err) {
      done();
      if (!changing) {
        self.result("error", "The gateway did not answer (" + err.message + "). Try again.");
        return null;
      }
      self.result("error", "The gateway did not answer (" + err.message + "), so this page cannot tell whether the change was made. The room is being read again: check it before you try again.");
      self.reload(false);
      return null;
    });
  };

  // reload reads the room again, and its audit trail.
  Card.prototype.reload = function (reset) {
    var self = this;
    return loadRooms().then(function () {
      if (reset && cardOf[self.id] === self) self.setRoom(self.room, true);
      self.loadAudit();
    }, noop);
  };

  Card.prototype.failed = function (res) {
    var self = this, d = res.data || {};
    switch (res.status) {
    case 400:
      var problems = Array.isArray(d.problems) ? d.problems : [];
      var other = [], first = null;
      problems.forEach(function (p) {
        if (!p || typeof p.problem !== "string") return;
        if (FIELDS.indexOf(p.field) >= 0) {
          self.problem(p.field, p.problem);
          first = first || self.k[p.field];
        } else {
          other.push((p.field ? p.field + ": " : "") + p.problem);
        }
      });
      if (!problems.length) {
        this.result("error", "The gateway refused the change: " + errorText(res) + ".");
        return;
      }
      this.result("error", "Nothing was changed: " + (problems.length === 1 ? "one value needs" : problems.length + " values need") +
        " fixing" + (first ? ", marked next to " + (problems.length === 1 ? "it" : "them") : "") + ".", other);
      if (first) first.focus();
      return;
    case 403:
      this.result("error", "You may not change this room: " + errorText(res) + ".");
      return;
    case 404:
      this.result("error", "This room no longer exists.");
      loadRooms().catch(noop);
      return;
    case 409:
      this.result("error", "Someone else changed this room meanwhile, so nothing was applied. The room has been read again and shows their values: check them and apply your change again.");
      this.reload(true);
      return;
    }
    this.result("error", "The gateway answered " + res.status + ": " + errorText(res) + ". Nothing was changed.");
  };

  Card.prototype.preview = function () {
    var self = this;
    if (this.busy || this.k.policy.disabled) return;
    var body = this.edits();
    if (!body) return;
    this.send("PATCH", this.path("?dry_run=1"), body, "Previewing…", false).then(function (res) {
      if (!res) return;
      if (res.ok && res.data) return self.showPreview(res.data);
      self.failed(res);
    });
  };

  Card.prototype.showPreview = function (d) {
    var text = "Preview: the wait at the back goes from " + waitText(d.eta_last_seconds_now) +
      " to " + waitText(d.eta_last_seconds_after);
    if (isNum(d.waiting)) text += " for the " + num(d.waiting) + " people waiting";
    text += ". Nothing changes until you press Apply.";
    this.result("info", text, changeLines(this.room, d.room));
  };

  Card.prototype.apply = function () {
    var self = this;
    if (this.busy || this.k.policy.disabled) return;
    var body = this.edits();
    if (!body) return;
    var before = this.room;
    this.send("PATCH", this.path(), body, "Applying…", true).then(function (res) {
      if (!res) return;
      if (!res.ok || !res.data || res.data.id !== self.id) return self.failed(res);
      self.setRoom(res.data, true);
      self.result("ok", "Applied at " + clock(Date.now(), true) + "." + alsoChanged(before, res.data), changeLines(before, res.data));
      self.loadAudit();
    });
  };

  // alsoChanged warns when the room moved on by more than this one change
  // since the page read it: someone else changed it too.
  function alsoChanged(before, after) {
    if (!before || !isNum(before.version) || !isNum(after.version) || after.version - before.version <= 1) return "";
    return " Someone else changed this room too since this page read it: see Recent changes.";
  }

  Card.prototype.ask = function (action) {
    var a = ACTIONS[action];
    if (this.busy || this.k.states.disabled) return;
    if (!a.ask) return this.act(action);
    this.asking = action;
    var s = this.stats;
    var waiting = s && isNum(s.waiting) ? " (" + num(s.waiting) + (s.waiting === 1 ? " person" : " people") + " now)" : "";
    setText(this.k["confirm-text"], a.ask.replace("{room}", "“" + this.name() + "”").replace("{waiting}", waiting));
    setText(this.k["confirm-yes"], a.yes);
    this.k.confirm.hidden = false;
    this.k["confirm-no"].focus();
  };

  Card.prototype.unask = function (refocus) {
    var was = this.asking;
    this.asking = "";
    this.k.confirm.hidden = true;
    if (refocus && was) this.k[was].focus();
  };

  Card.prototype.act = function (action) {
    var self = this, a = ACTIONS[action];
    if (!a || this.k.states.disabled) return;
    this.unask(false);
    var before = this.room;
    this.send("POST", this.path("/" + action), undefined, a.pending, true).then(function (res) {
      if (!res) return;
      if (!res.ok || !res.data || res.data.id !== self.id) return self.failed(res);
      self.setRoom(res.data, false);
      self.result("ok", a.done + " at " + clock(Date.now(), true) + "." + alsoChanged(before, res.data), changeLines(before, res.data));
      self.loadAudit();
    });
  };

  // ---- the audit trail ----

  Card.prototype.loadAudit = function () {
    var self = this, k = this.k;
    this.auditLoaded = true;
    if (!k.audit.firstChild) {
      setText(k["audit-note"], "Loading…");
      k["audit-note"].hidden = false;
    }
    call("GET", this.path("/audit?limit=50")).then(function (res) {
      if (!res.ok || !Array.isArray(res.data)) throw new Error(errorText(res));
      self.showAudit(res.data);
    }).catch(function (err) {
      setText(k["audit-note"], "Cannot read the changes (" + err.message + ").");
      k["audit-note"].hidden = false;
    });
  };

  Card.prototype.showAudit = function (list) {
    var k = this.k;
    clear(k.audit);
    list.slice(0, 50).forEach(function (e) {
      if (e && typeof e === "object") k.audit.appendChild(auditItem(e));
    });
    setText(k["audit-note"], "No changes yet.");
    k["audit-note"].hidden = k.audit.children.length > 0;
  };

  function auditItem(e) {
    var li = make("li");
    var head = make("p");
    var at = Date.parse(e.at);
    var time = make("time", "", isFinite(at) ? when(at) : String(e.at || ""));
    if (isFinite(at)) time.dateTime = new Date(at).toISOString();
    head.appendChild(time);
    head.appendChild(document.createTextNode(" "));
    head.appendChild(make("strong", "", String(e.who || "someone")));
    if (e.via) head.appendChild(make("span", "via", " (" + e.via + ")"));
    head.appendChild(document.createTextNode(" " + (AUDIT_WORDS[e.action] || String(e.action || "did something"))));
    li.appendChild(head);
    var ul = make("ul");
    if (!e.before && e.action === "config") {
      ul.appendChild(make("li", "", "added the room"));
    } else {
      changes(e.before, e.after).forEach(function (c) {
        var item = make("li");
        item.appendChild(make("code", "", c[0]));
        item.appendChild(document.createTextNode(" " + c[1] + " → " + c[2]));
        ul.appendChild(item);
      });
    }
    if (ul.firstChild) li.appendChild(ul);
    return li;
  }

  // ---- wiring ----

  if (el.tokenUse) {
    el.tokenUse.addEventListener("click", useToken);
    el.token.addEventListener("keydown", function (e) {
      if (e.key === "Enter") useToken();
    });
    el.token.addEventListener("input", function () {
      setText(el.loginError, "");
      el.token.setAttribute("aria-invalid", "false");
    });
  }
  if (el.forget) el.forget.addEventListener("click", forgetToken);
  el.pick.addEventListener("change", applyPick);
  document.addEventListener("visibilitychange", function () {
    cards.forEach(function (c) { c.sync(); });
  });
  function redraw() {
    cards.forEach(function (c) { c.draw(); });
  }
  if (window.ResizeObserver) new window.ResizeObserver(redraw).observe(el.rooms);
  else window.addEventListener("resize", redraw);
  if (window.matchMedia) {
    var dark = window.matchMedia("(prefers-color-scheme: dark)");
    if (dark.addEventListener) dark.addEventListener("change", redraw);
  }

  setRole(data.role);
  start();
})();
