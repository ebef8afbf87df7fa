(function () {
  "use strict";
  // Everything that varies per visitor comes from data-* attributes, so this
  // text never changes and the Content-Security-Policy can allow it by hash.
  var root = document.getElementById("queue");
  if (!root) return;
  var data = root.dataset;
  var room = data.room || "";
  var url = data.statusUrl;
  var pollMs = pollDelay(Number(data.pollMs));
  if (!url || !window.fetch) {
    setTimeout(function () { location.reload(); }, pollMs);
    return;
  }

  var placeEl = document.getElementById("place");
  var aheadEl = document.getElementById("ahead");
  var waitEl = document.getElementById("wait");
  var waitValueEl = document.getElementById("wait-value");
  var barEl = document.getElementById("progress");
  var noticeEl = document.getElementById("notice");
  var helpEl = document.getElementById("help");

  var rejoinKey = "usher:rejoin:" + room;
  var firstKey = "usher:first-ahead:" + room;
  var dayMs = 864e5;

  var state = data.state || "open";
  var pos = count(data.position, 1);
  var ahead = pos === null ? null : count(data.ahead, 0);
  var eta = count(data.eta, 0);
  var etaLow = count(data.etaLow, 0);
  var soldOutLikely = data.soldOutLikely === "true";
  var holding = data.holding === "true";
  var etaHigh = count(data.etaHigh, 0);
  // In a lottery room, the arrival number the draw is checked with.
  var entry = count(data.entry, 1);
  var first = null;
  var placeKey = placeKeyOf(pos);
  var offline = false;
  var stopped = state === "soldout" || state === "closed";
  var cookieTrouble = false;
  var busy = false;
  var failures = 0;
  var timer = 0;

  function count(v, min) {
    if (v === null || v === undefined || v === "") return null;
    var n = Number(v);
    return isFinite(n) && n >= min ? Math.floor(n) : null;
  }

  function pollDelay(ms) {
    return isFinite(ms) && ms > 0 ? Math.min(Math.max(ms, 500), 120000) : 5000;
  }

  // Storage may be missing or throw (private modes, blocked site data).
  function load(area, key) {
    try { return window[area].getItem(key); } catch (e) { return undefined; }
  }
  function save(area, key, value) {
    try { window[area].setItem(key, value); return true; } catch (e) { return false; }
  }
  function drop(area, key) {
    try { window[area].removeItem(key); } catch (e) { /* nothing to drop */ }
  }

  function group(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function plural(n, one, many) {
    return group(n) + " " + (n === 1 ? one : many);
  }

  // waitText mirrors waitText in the Go package, so the first answer does
  // not reword what the server rendered.
  function waitText(s) {
    if (s === null || s < 0) return "";
    if (s < 60) return "less than a minute";
    var m = Math.floor((s + 30) / 60);
    if (m < 60) return "about " + plural(m, "minute", "minutes");
    m = Math.floor((s + 150) / 300) * 5;
    var h = Math.floor(m / 60);
    m %= 60;
    if (h >= 24) return "more than a day";
    return "about " + plural(h, "hour", "hours") + (m ? " " + plural(m, "minute", "minutes") : "");
  }

  // rangeText mirrors rangeText in the Go package: "12–18 minutes".
  function rangeText(mid, low, high) {
    if (mid === null || mid < 0) return "";
    if (low === null || high === null || low > mid || high < mid) return waitText(mid);
    if (high < 60) return "less than a minute";
    if (high < 5400) {
      var lo = Math.max(1, Math.floor(low / 60));
      var hi = Math.max(lo + 1, Math.floor((high + 59) / 60));
      return lo + "–" + hi + " minutes";
    }
    if (high < 86400) {
      var l = Math.floor(low / 1800), h = Math.floor((high + 1799) / 1800);
      if (h <= l) h = l + 1;
      return halfHours(l) + "–" + halfHours(h) + " hours";
    }
    return "more than a day";
  }
  function halfHours(n) {
    return String(Math.floor(n / 2)) + (n % 2 === 1 ? "½" : "");
  }

  function aheadText(n) {
    if (n === null) return "";
    if (n === 0) return "Nobody is ahead of you.";
    return n === 1 ? "1 person is ahead of you." : group(n) + " people are ahead of you.";
  }

  function placeKeyOf(p) {
    return p === null ? "?" : String(p);
  }

  // setPlace rewrites the live region only when the place changes, so a
  // screen reader speaks once per step forward and not on every poll.
  function setPlace(key, before, strong, after) {
    if (key === placeKey) return;
    placeKey = key;
    while (placeEl.firstChild) placeEl.removeChild(placeEl.firstChild);
    placeEl.appendChild(document.createTextNode(before));
    if (strong) {
      var b = document.createElement("strong");
      b.textContent = strong;
      placeEl.appendChild(b);
      placeEl.appendChild(document.createTextNode(after));
    }
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  // progress measures the way from the first "ahead" this browser saw in this
  // room; a larger one means the visitor joined again, so it starts over.
  function progress() {
    if (ahead === null) return 0;
    if (first === null) {
      var parts = (load("localStorage", firstKey) || "").split(" ");
      var seen = count(parts[0], 0);
      if (seen !== null && Date.now() - Number(parts[1]) < dayMs) first = seen;
      if (first === null || ahead > first) {
        first = ahead;
        save("localStorage", firstKey, ahead + " " + Date.now());
      }
    }
    return first > 0 ? Math.floor(100 * (first - ahead) / first) : 100;
  }

  // when writes the time a notice speaks of in the visitor's own time zone,
  // as the server cannot know it.
  var at = noticeEl.getAttribute("data-at");
  function when() {
    var d = at ? new Date(at) : null;
    if (!d || isNaN(d.getTime())) return "soon";
    try {
      return "on " + d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
    } catch (e) {
      return "on " + d.toString();
    }
  }

  function notice() {
    if (state === "scheduled") return "The line opens " + when() + ". Keep this page open: it lets you in by itself.";
    if (cookieTrouble) return "Your browser did not keep this site's cookie, so we cannot hold your place in line. Please allow cookies for this site, then reload this page.";
    if (state === "soldout") return "This sale is sold out. Thank you for waiting.";
    if (state === "closed") return "This sale has ended.";
    if (offline) return "Reconnecting… you keep your place.";
    if (holding) return "We cannot move the line right now. Hold on: you keep your place, and it moves again by itself.";
    if (state === "paused") return "The sale is paused for a moment. You keep your place.";
    if (soldOutLikely && state === "open") return "At the pace tickets are selling, they will likely be gone before your turn. You keep your place in case more are released.";
    if (state === "prequeue" && entry !== null) return "The sale starts " + when() + ". Everyone in line before then gets a random place in a draw at the start, so there is no need to hurry.";
    if (state === "prequeue") return "The sale starts " + when() + ". You keep your place in line until then.";
    return "";
  }

  // The wait counts down between answers: each answer's estimate less the
  // time since it came. data-eta carries the seconds left, for tools.
  var etaAt = Date.now();
  function left(v) {
    return v === null ? null : Math.max(0, Math.round(v - (Date.now() - etaAt) / 1000));
  }
  function showWait() {
    var now = left(eta);
    var w = stopped ? "" : rangeText(now, left(etaLow), left(etaHigh));
    setText(waitValueEl, w);
    waitEl.hidden = !w;
    var d = now === null ? "" : String(now);
    if (root.getAttribute("data-eta") !== d) root.setAttribute("data-eta", d);
  }

  function render() {
    root.className = "card" + (state === "paused" ? " paused" : "") +
      (offline ? " offline" : "") + (stopped ? " stopped" : "");
    if (cookieTrouble) setPlace("lost", "We could not keep your place in line.");
    else if (state === "scheduled") setPlace("wait", "The line is not open yet.");
    else if (pos === null && entry !== null && state === "prequeue") setPlace("draw", "Your place will be drawn when the sale starts.");
    else if (pos === null && entry !== null) setPlace("drawing", "Drawing the places…");
    else if (pos === null) setPlace("?", "Finding your place in line…");
    else if (pos === 1) setPlace("1", "You are ", "next", " in line.");
    else setPlace(String(pos), "You are number ", group(pos), " in line.");
    var a = aheadText(ahead);
    setText(aheadEl, a);
    aheadEl.hidden = !a;
    showWait();
    var pct = progress();
    if (barEl.value !== pct) {
      barEl.value = pct;
      barEl.textContent = pct + "%";
    }
    setText(noticeEl, notice());
    helpEl.hidden = stopped;
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(poll, ms);
  }

  function go() {
    // A URL with a fragment would only scroll, not load, when replaced.
    if (location.hash) location.reload();
    else location.replace(location.href);
  }

  function admit() {
    stopped = true;
    drop("sessionStorage", rejoinKey);
    drop("localStorage", firstKey);
    setPlace("in", "It's your turn! Taking you there now…");
    barEl.value = 100;
    barEl.textContent = "100%";
    go();
  }

  // rejoin reloads once to get a new ticket when the browser dropped the
  // old one. If the reload did not help either, cookies are blocked, and
  // reloading again would only send the visitor to the back of the line.
  function rejoin() {
    if (load("sessionStorage", rejoinKey) === null && save("sessionStorage", rejoinKey, String(Date.now()))) {
      stopped = true;
      go();
      return;
    }
    cookieTrouble = true;
    stopped = true;
    pos = null;
    ahead = null;
    eta = null;
    render();
  }

  function apply(s) {
    if (!s || typeof s !== "object") throw new Error("not a status answer");
    failures = 0;
    offline = false;
    if (typeof s.poll_after_ms === "number") pollMs = pollDelay(s.poll_after_ms);
    if (s.admitted === true) return admit();
    if (typeof s.state === "string") state = s.state;
    if (state === "soldout" || state === "closed") {
      stopped = true;
      return render();
    }
    if (state === "scheduled") {
      // No line yet: wait for it to open, then load the page to join.
      render();
      return schedule(pollMs);
    }
    if (typeof s.entry === "number" && (s.position === null || s.position === undefined)) {
      // A lottery before its draw: no place yet, nothing lost.
      drop("sessionStorage", rejoinKey);
      entry = count(s.entry, 1);
      render();
      return schedule(pollMs * (0.9 + 0.2 * Math.random()));
    }
    if (s.position === null || s.position === undefined) return rejoin();
    drop("sessionStorage", rejoinKey);
    // A place never moves backwards, and neither does what the page shows.
    var p = count(s.position, 1);
    if (p !== null) pos = pos === null ? p : Math.min(pos, p);
    var a = count(s.ahead, 0);
    if (a !== null) ahead = ahead === null ? a : Math.min(ahead, a);
    eta = count(s.eta_seconds, 0);
    soldOutLikely = s.sold_out_likely === true;
    holding = s.holding === true;
    var r = s.eta_range_seconds;
    etaLow = r && r.length === 2 ? count(r[0], 0) : null;
    etaHigh = r && r.length === 2 ? count(r[1], 0) : null;
    etaAt = Date.now();
    render();
    // A little jitter keeps two tabs of one fan from polling in step.
    schedule(pollMs * (0.9 + 0.2 * Math.random()));
  }

  function fail(err) {
    failures++;
    offline = true;
    render();
    var ms = Math.max(pollMs, 2000) * Math.pow(2, failures - 1);
    var hint = err && err.retryAfter;
    if (hint > ms) ms = hint;
    // Jitter spreads out the visitors who lost the connection together.
    schedule(Math.min(30000, ms) * (0.8 + 0.2 * Math.random()));
  }

  function poll() {
    if (busy || stopped) return;
    clearTimeout(timer);
    busy = true;
    var ctl = window.AbortController ? new AbortController() : null;
    var guard = setTimeout(function () { if (ctl) ctl.abort(); }, 15000);
    fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
      signal: ctl ? ctl.signal : undefined
    }).then(function (r) {
      if (!r.ok) {
        var err = new Error("status " + r.status);
        err.retryAfter = 1000 * Number(r.headers.get("Retry-After"));
        if (r.status !== 403 && r.status !== 429) throw err;
        // The gateway wants proof first (a challenge in the answer): the
        // page itself shows it, so load the page again.
        return r.json().then(function (b) {
          err.challenge = !!(b && b.challenge);
          throw err;
        }, function () { throw err; });
      }
      return r.json();
    }).then(apply).catch(function (err) {
      if (err && err.challenge) {
        stopped = true;
        go();
        return;
      }
      fail(err);
    }).then(function () {
      clearTimeout(guard);
      busy = false;
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poll();
  });
  window.addEventListener("online", poll);
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) poll();
  });

  render();
  schedule(pollMs);
  setInterval(function () { if (!stopped) showWait(); }, 1000);
})();
