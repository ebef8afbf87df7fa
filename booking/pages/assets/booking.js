(function () {
  "use strict";
  // One script for every page of the booking site. What varies per page and
  // per fan comes from data-* attributes, so this text never changes and the
  // Content-Security-Policy can allow it by hash.
  var root = document.getElementById("main");
  if (!root || !window.fetch || !window.JSON) return;

  var passEnded = "Your turn in the waiting room has ended; reload the page to queue again.";
  var offline = "We could not reach the booking site. Check your connection and try again.";
  var serverTrouble = "Something went wrong on our side. Please try again in a moment.";

  function $(id) { return document.getElementById(id); }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  // money mirrors Money.String in the Go package: "€12.50", "€45",
  // "£1,250", "12.50 CHF".
  var symbols = { EUR: "\u20ac", GBP: "\u00a3", USD: "$" };
  function money(cents, currency) {
    cents = Math.round(Number(cents) || 0);
    var sign = cents < 0 ? "-" : "";
    cents = Math.abs(cents);
    var units = String(Math.floor(cents / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var rest = cents % 100;
    var amount = units + (rest ? "." + (rest < 10 ? "0" : "") + rest : "");
    var code = String(currency || "").trim().toUpperCase();
    if (symbols[code]) return sign + symbols[code] + amount;
    return sign + amount + (code ? " " + code : "");
  }

  function plural(n, one, many) {
    return n === 1 ? "1 " + one : n + " " + many;
  }

  function list(names) {
    if (names.length < 2) return names.join("");
    return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
  }

  // call sends a JSON request to the booking API and settles with the
  // status and the decoded answer; it rejects only when no answer came.
  function call(method, url, body, headers) {
    var h = { "Accept": "application/json" };
    var k;
    for (k in headers || {}) h[k] = headers[k];
    var init = { method: method, credentials: "same-origin", headers: h, cache: "no-store" };
    if (body !== undefined) {
      h["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { status: res.status, data: data || {} };
      });
    });
  }

  // errorText is the server's own words for a failed request, as a
  // sentence, or a plain fallback.
  function errorText(r, fallback) {
    var e = r.data && typeof r.data.error === "string" ? r.data.error.trim() : "";
    if (!e) return fallback;
    e = e.charAt(0).toUpperCase() + e.slice(1);
    return /[.!?]$/.test(e) ? e : e + ".";
  }

  // leave goes to an address the API gave; only web addresses, never a
  // script.
  function leave(address) {
    var u;
    try { u = new URL(address, location.href); } catch (e) { return false; }
    if (u.protocol !== "https:" && u.protocol !== "http:") return false;
    location.assign(u.href);
    return true;
  }

  // pattern fills "{name}" in an address; the page may carry it as
  // "%7Bname%7D", since the template escapes braces in URLs.
  function pattern(address, name, value) {
    var re = new RegExp("\\{" + name + "\\}|%7B" + name + "%7D", "gi");
    return address.replace(re, encodeURIComponent(value));
  }

  // Storage may be missing or throw (private modes, blocked site data).
  function load(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
  }
  function save(key, value) {
    try { window.sessionStorage.setItem(key, value); } catch (e) { /* kept in memory only */ }
  }
  function drop(key) {
    try { window.sessionStorage.removeItem(key); } catch (e) { /* nothing to drop */ }
  }

  function randomKey() {
    var c = window.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
  }

  // A page restored from the back-forward cache shows stale seats and a
  // stale countdown: load it again.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) location.reload();
  });

  // countdown runs a clock from ms milliseconds after the page's time
  // origin (navigation start, so never later than the server's "now") on
  // the monotonic clock, which the phone's wall clock cannot move. It
  // announces each whole minute, then 30 and 10 seconds, never every
  // second, and calls done at zero.
  function countdown(ms, clockEl, announceEl, box, done) {
    var said = null;
    var timer = 0;
    function mmss(s) {
      var m = Math.floor(s / 60);
      var r = s % 60;
      return (m < 10 ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
    }
    function mark(s) {
      if (s > 60) return "m" + Math.ceil(s / 60);
      if (s > 30) return "m1";
      if (s > 10) return "s30";
      return s > 0 ? "s10" : "end";
    }
    function words(m) {
      if (m.charAt(0) === "m") return plural(Number(m.slice(1)), "minute", "minutes") + " left to pay.";
      return m.slice(1) + " seconds left to pay.";
    }
    function tick() {
      var left = Math.max(0, ms - performance.now());
      var s = Math.ceil(left / 1000);
      setText(clockEl, mmss(s));
      if (box) box.classList.toggle("urgent", s <= 60);
      var m = mark(s);
      if (m !== said) {
        // The first mark is what the page already shows: not news.
        if (said !== null && m !== "end") setText(announceEl, words(m));
        said = m;
      }
      if (s <= 0) {
        done();
        return;
      }
      timer = setTimeout(tick, (left % 1000) + 20);
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && timer) {
        clearTimeout(timer);
        tick();
      }
    });
    tick();
    return function stop() { clearTimeout(timer); timer = 0; };
  }

  // ---- The event page: seat map, zones, live availability, holds. ----

  function eventPage() {
    var d = root.dataset;
    var eventID = d.event || "";
    var onSale = d.sale === "true";
    var max = Math.max(0, parseInt(d.max, 10) || 0);
    var currency = d.currency || "";
    var holdsURL = d.holdsUrl || "";
    var holdPage = d.holdPageUrl || "";
    var words = { a: "available", h: "on hold", s: "sold" };

    var seats = {};
    var picked = [];
    var busy = false;
    Array.prototype.forEach.call(root.querySelectorAll("[data-seat]"), function (el) {
      var c = el.classList;
      var svg = el.ownerSVGElement;
      var section = svg ? svg.getAttribute("data-section") || "" : "";
      // The label is the seat's name, maybe its kind, then its price and
      // its state: the name and kind are what the basket lists.
      var name = (el.getAttribute("aria-label") || "").split(", ").slice(0, -2).join(", ");
      seats[el.getAttribute("data-seat")] = {
        el: el,
        name: name,
        full: section ? section + ", " + name : name,
        cents: Number(el.getAttribute("data-cents")) || 0,
        state: c.contains("a") ? "a" : c.contains("h") ? "h" : "s",
        picked: false
      };
    });

    var basket = $("basket");
    var pickedEl = $("picked");
    var countEl = $("count");
    var prompt = countEl ? countEl.textContent : "";
    var totalEl = $("total");
    var seatMsg = $("seat-msg");
    var holdSeats = $("hold-seats");
    var presale = $("presale");
    var presaleCode = $("presale-code");
    var fit = $("fit");

    // A map a little wider than the screen is shrunk to fit it, so that the
    // fan sees the whole section; a much wider one keeps seats big enough to
    // tap, and scrolls.
    var maps = root.querySelectorAll(".map");
    function snug() {
      Array.prototype.forEach.call(maps, function (map) {
        var svg = map.querySelector("svg");
        var natural = svg ? Number(svg.getAttribute("width")) : 0;
        map.classList.toggle("snug", natural > map.clientWidth && natural <= map.clientWidth * 1.35);
      });
    }
    snug();
    window.addEventListener("resize", snug);

    if (fit) {
      fit.hidden = false;
      fit.addEventListener("click", function () {
        var on = fit.getAttribute("aria-pressed") !== "true";
        fit.setAttribute("aria-pressed", String(on));
        root.classList.toggle("fit", on);
      });
    }
    if (basket && onSale) basket.hidden = false;
    if (presale && onSale) presale.hidden = false;

    function paint(id) {
      var s = seats[id];
      var el = s.el;
      el.setAttribute("class", s.state + (s.picked ? " p" : ""));
      el.setAttribute("aria-pressed", String(s.picked));
      if (s.state === "a") el.removeAttribute("aria-disabled");
      else el.setAttribute("aria-disabled", "true");
      // The state is the label's last part, after its last comma.
      var label = el.getAttribute("aria-label") || s.name;
      var word = s.picked ? "selected" : words[s.state];
      el.setAttribute("aria-label", label.replace(/, [^,]*$/, "") + ", " + word);
    }

    function renderBasket() {
      if (!basket) return;
      while (pickedEl.firstChild) pickedEl.removeChild(pickedEl.firstChild);
      var sum = 0;
      picked.forEach(function (id) {
        var s = seats[id];
        sum += s.cents;
        var li = document.createElement("li");
        var name = document.createElement("span");
        name.textContent = s.full;
        var price = document.createElement("span");
        price.className = "price";
        price.textContent = money(s.cents, currency);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "remove";
        remove.textContent = "\u00d7";
        remove.setAttribute("aria-label", "Remove " + s.full);
        remove.addEventListener("click", function () {
          unpick(id);
          renderBasket();
          if (picked.length) seats[picked[picked.length - 1]].el.focus();
          else if (holdSeats) holdSeats.focus();
        });
        li.appendChild(name);
        li.appendChild(price);
        li.appendChild(remove);
        pickedEl.appendChild(li);
      });
      setText(countEl, picked.length ? plural(picked.length, "seat", "seats") + ", total" : prompt);
      setText(totalEl, picked.length ? money(sum, currency) : "");
      holdSeats.disabled = busy || picked.length === 0;
      setText(holdSeats, busy ? "Holding\u2026" : picked.length > 1 ? "Hold these " + picked.length + " seats" : picked.length ? "Hold this seat" : "Hold these seats");
    }

    function unpick(id) {
      var s = seats[id];
      if (!s || !s.picked) return;
      s.picked = false;
      picked.splice(picked.indexOf(id), 1);
      paint(id);
    }

    function toggle(id) {
      var s = seats[id];
      if (!s) return;
      if (!onSale || !basket) return;
      if (busy) return;
      setText(seatMsg, "");
      if (s.picked) unpick(id);
      else if (s.state !== "a") {
        setText(seatMsg, s.full + " is " + words[s.state] + ". Please choose another seat.");
        return;
      } else if (max && picked.length >= max) {
        setText(seatMsg, "You can choose up to " + plural(max, "ticket", "tickets") + " in one order.");
        return;
      } else {
        s.picked = true;
        picked.push(id);
        paint(id);
      }
      renderBasket();
    }

    // nearest is the seat of the same map closest to el in a direction, for
    // moving around the map with the arrow keys.
    function nearest(el, dx, dy) {
      var x = Number(el.getAttribute("cx"));
      var y = Number(el.getAttribute("cy"));
      var best = null;
      var score = Infinity;
      Array.prototype.forEach.call(el.ownerSVGElement.querySelectorAll("[data-seat]"), function (o) {
        var ox = Number(o.getAttribute("cx")) - x;
        var oy = Number(o.getAttribute("cy")) - y;
        var along = ox * dx + oy * dy;
        if (along <= 0.5) return;
        var across = Math.abs(ox * dy - oy * dx);
        var v = along + 2 * across;
        if (v < score) { score = v; best = o; }
      });
      return best;
    }

    var arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    Array.prototype.forEach.call(root.querySelectorAll(".map"), function (map) {
      map.addEventListener("click", function (e) {
        var el = e.target.closest ? e.target.closest("[data-seat]") : null;
        if (el) toggle(el.getAttribute("data-seat"));
      });
      map.addEventListener("keydown", function (e) {
        var el = e.target.closest ? e.target.closest("[data-seat]") : null;
        if (!el) return;
        if (e.key === "Enter" || e.key === " " || e.key === "Spacebar") {
          e.preventDefault();
          toggle(el.getAttribute("data-seat"));
          return;
        }
        var a = arrows[e.key];
        if (!a) return;
        var next = nearest(el, a[0], a[1]);
        if (next) {
          e.preventDefault();
          next.focus();
        }
      });
    });

    // Zones: a stepper and a hold button each.
    var zones = {};
    Array.prototype.forEach.call(root.querySelectorAll("[data-zone]"), function (el) {
      var z = {
        el: el,
        id: el.getAttribute("data-zone"),
        name: el.getAttribute("data-name") || "",
        cents: Number(el.getAttribute("data-cents")) || 0,
        available: Math.max(0, Number(el.getAttribute("data-available")) || 0),
        input: el.querySelector(".qty"),
        less: el.querySelector("[data-step='-1']"),
        more: el.querySelector("[data-step='1']"),
        hold: el.querySelector(".hold-zone"),
        left: el.querySelector(".left"),
        msg: el.querySelector(".msg")
      };
      zones[z.id] = z;
      if (!onSale) return;
      el.querySelector(".buy").hidden = false;
      z.less.addEventListener("click", function () { setQty(z, qty(z) - 1); });
      z.more.addEventListener("click", function () { setQty(z, qty(z) + 1); });
      z.input.addEventListener("change", function () { setQty(z, qty(z)); });
      z.input.addEventListener("input", function () { renderZone(z); });
      z.hold.addEventListener("click", function () { holdZone(z); });
      renderZone(z);
    });

    function zoneMax(z) {
      return max ? Math.min(max, z.available) : z.available;
    }
    function qty(z) {
      var n = parseInt(z.input.value, 10);
      return isFinite(n) ? n : 1;
    }
    function setQty(z, n) {
      var top = zoneMax(z);
      if (n > top && top > 0) {
        setText(z.msg, z.available < (max || Infinity) ?
          "Only " + plural(z.available, "ticket is", "tickets are") + " left in " + z.name + "." :
          "You can choose up to " + plural(max, "ticket", "tickets") + " in one order.");
      } else {
        setText(z.msg, "");
      }
      z.input.value = String(Math.max(1, Math.min(n, Math.max(top, 1))));
      renderZone(z);
    }
    function renderZone(z) {
      var top = zoneMax(z);
      var n = qty(z);
      setText(z.left, z.available > 0 ? z.available + " left" : "Sold out");
      if (!onSale) return;
      z.input.max = String(Math.max(top, 1));
      z.less.disabled = busy || top === 0 || n <= 1;
      z.more.disabled = busy || top === 0 || n >= top;
      z.input.disabled = top === 0;
      z.hold.disabled = busy || top === 0 || n < 1 || n > top;
      setText(z.hold, busy ? "Holding\u2026" : top === 0 ? "Sold out" : "Hold " + plural(Math.max(n, 1), "ticket", "tickets"));
    }
    function renderZones() {
      for (var id in zones) renderZone(zones[id]);
    }

    function setBusy(on) {
      busy = on;
      renderBasket();
      renderZones();
    }

    // hold asks for a hold, goes to its page when it is granted, and
    // explains in msg when it is not.
    function hold(body, msg) {
      var code = presaleCode ? presaleCode.value.trim() : "";
      if (code) body.presale_code = code;
      setBusy(true);
      setText(msg, "");
      call("POST", holdsURL, body).then(function (r) {
        if (r.status === 201 && r.data.hold_id) {
          location.assign(pattern(holdPage, "hold", r.data.hold_id));
          return;
        }
        setBusy(false);
        refused(r, msg);
      }, function () {
        setBusy(false);
        setText(msg, offline);
      });
    }

    function refused(r, msg) {
      var d = r.data;
      if (r.status === 401) return setText(msg, passEnded);
      if (r.status === 409 && d.seat_ids && d.seat_ids.length) {
        var names = [];
        d.seat_ids.forEach(function (id) {
          var s = seats[id];
          if (!s) return;
          names.push(s.full);
          unpick(id);
          s.state = "h";
          paint(id);
        });
        renderBasket();
        setText(msg, names.length ?
          "Sorry, someone else just took " + list(names) + ". " + (names.length > 1 ? "They are" : "It is") + " out of your selection; please choose again." :
          "Sorry, some of these seats were just taken. Please choose again.");
        reconnect(0);
        return;
      }
      if (r.status === 409 && d.zone_id && zones[d.zone_id]) {
        var z = zones[d.zone_id];
        z.available = Math.max(0, Number(d.available) || 0);
        setQty(z, Math.min(qty(z), zoneMax(z)));
        setText(msg, z.available ? "Only " + plural(z.available, "ticket is", "tickets are") + " left in " + z.name + "." : z.name + " has just sold out.");
        return;
      }
      if (r.status === 422 && d.max) return setText(msg, limitText(d));
      if (r.status === 403 && presale) presale.open = true;
      if (r.status >= 500) return setText(msg, serverTrouble);
      setText(msg, errorText(r, "We could not hold these tickets. Please try again."));
    }

    function limitText(d) {
      var m = Number(d.max) || 0;
      if (d.limit === "per_account") {
        var have = Number(d.have) || 0;
        var more = Math.max(0, m - have);
        return "You can have up to " + plural(m, "ticket", "tickets") + " for this event, and you already have " + have + ". " +
          (more ? "You can add " + more + " more." : "You cannot add any more.");
      }
      return "You can choose up to " + plural(m, "ticket", "tickets") + " in one order.";
    }

    if (holdSeats) {
      holdSeats.addEventListener("click", function () {
        if (busy || !picked.length) return;
        hold({ event_id: eventID, seat_ids: picked.slice() }, seatMsg);
      });
    }
    function holdZone(z) {
      if (busy) return;
      var n = qty(z);
      if (n < 1 || n > zoneMax(z)) return setQty(z, n);
      hold({ event_id: eventID, zone_id: z.id, quantity: n }, z.msg);
    }

    // Live availability: a snapshot, then changes, over Server-Sent Events.
    var streamURL = d.streamUrl;
    var live = $("live");
    var liveText = $("live-text");
    var source = null;
    var version = -1;
    var failures = 0;
    var retry = 0;

    function setLive(on, text) {
      if (!live) return;
      live.hidden = false;
      live.classList.toggle("off", !on);
      setText(liveText, text);
    }

    function apply(msg, snapshot) {
      if (typeof msg.version === "number") {
        if (!snapshot && msg.version <= version) return;
        version = msg.version;
      }
      var lost = [];
      var id;
      for (id in msg.seats || {}) {
        var s = seats[id];
        if (!s) continue;
        var st = msg.seats[id] === "a" || msg.seats[id] === "h" ? msg.seats[id] : "s";
        if (st === s.state) continue;
        if (st !== "a" && s.picked) {
          lost.push(s.full);
          s.picked = false;
          picked.splice(picked.indexOf(id), 1);
        }
        s.state = st;
        paint(id);
      }
      for (id in msg.zones || {}) {
        var z = zones[id];
        var info = msg.zones[id];
        if (!z || !info || typeof info.available !== "number") continue;
        z.available = Math.max(0, info.available);
        if (onSale && qty(z) > zoneMax(z)) z.input.value = String(Math.max(zoneMax(z), 1));
      }
      renderZones();
      if (lost.length) {
        renderBasket();
        setText(seatMsg, "Sorry, someone else just took " + list(lost) + ", so " + (lost.length > 1 ? "they are" : "it is") + " no longer in your selection.");
      }
    }

    function listen(type, snapshot) {
      source.addEventListener(type, function (e) {
        var msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        if (snapshot) {
          failures = 0;
          setLive(true, "Live: seats update as fans buy them");
        }
        apply(msg || {}, snapshot);
      });
    }

    function connect() {
      retry = 0;
      source = new EventSource(streamURL);
      listen("snapshot", true);
      listen("change", false);
      source.onerror = function () {
        source.close();
        source = null;
        setLive(false, "Reconnecting to live updates\u2026");
        // Back off, with jitter, so that a restarted server is not hit by
        // every fan at once.
        var wait = Math.min(30000, 1000 * Math.pow(2, failures)) * (0.5 + Math.random() / 2);
        failures = Math.min(failures + 1, 10);
        reconnect(wait);
      };
    }

    // reconnect opens the stream again after wait ms, which brings a fresh
    // snapshot.
    function reconnect(wait) {
      if (!streamURL || !window.EventSource) return;
      if (retry) clearTimeout(retry);
      if (source) {
        source.close();
        source = null;
      }
      retry = setTimeout(connect, wait);
    }

    if (streamURL && window.EventSource && (Object.keys(seats).length || Object.keys(zones).length)) {
      setLive(false, "Connecting to live updates\u2026");
      connect();
    }
    renderBasket();
  }

  // ---- The hold page: countdown, promo code, pay, release. ----

  function holdPage() {
    var d = root.dataset;
    var holdID = d.hold || "";
    var keyName = "usher:order-key:" + holdID;
    var held = $("held");
    var gone = $("gone");
    var goneText = $("gone-text");
    var form = $("pay");
    var promo = $("promo");
    var promoMsg = $("promo-msg");
    var payButton = $("pay-button");
    var payMsg = $("pay-msg");
    var release = $("release");
    var back = $("back");
    var busy = false;
    var stop = null;

    function over(text) {
      if (stop) stop();
      if (held) held.hidden = true;
      if (form) form.hidden = true;
      if (release) release.hidden = true;
      if (back) back.hidden = true;
      setText(payMsg, "");
      if (text) setText(goneText, text);
      gone.hidden = false;
      var h1 = root.querySelector("h1");
      setText(h1, "Your seats have been released");
      var link = gone.querySelector("a");
      if (link) link.focus();
    }

    if (d.expired === "true" || !form) return;
    form.hidden = false;
    release.hidden = false;
    stop = countdown(Number(d.remainingMs) || 0, $("clock"), $("announce"), held, function () {
      over("");
      setText($("announce"), "Time is up. Your seats have been released.");
    });

    function setBusy(on, label) {
      busy = on;
      payButton.disabled = on;
      release.disabled = on;
      setText(payButton, on && label ? label : "Pay");
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) return;
      // One key per hold, kept across reloads, so a retry after a lost
      // answer cannot create a second order.
      var key = load(keyName);
      if (!key) {
        key = randomKey();
        save(keyName, key);
      }
      var body = { hold_id: holdID };
      var code = promo.value.trim();
      if (code) body.promo_code = code;
      setText(promoMsg, "");
      promo.removeAttribute("aria-invalid");
      setText(payMsg, "");
      setBusy(true, "Starting payment\u2026");
      call("POST", d.ordersUrl, body, { "Idempotency-Key": key }).then(function (r) {
        var p = r.data.payment;
        if (r.status === 201 || r.status === 200) {
          if (p && p.checkout_url && leave(p.checkout_url)) return;
          setBusy(false);
          setText(payMsg, "Your order is placed, but the payment could not start. Please press Pay again.");
          return;
        }
        setBusy(false);
        if (r.status === 409 || r.status === 410) {
          over(errorText(r, "This hold has expired or was already used.") + " Please choose your seats again.");
          return;
        }
        if (r.status === 422) {
          // The order was refused, so the next try is a new request.
          drop(keyName);
          setText(promoMsg, errorText(r, "This promo code is not valid."));
          promo.setAttribute("aria-invalid", "true");
          promo.focus();
          return;
        }
        if (r.status === 401) return setText(payMsg, passEnded);
        if (r.status >= 500) return setText(payMsg, serverTrouble);
        drop(keyName);
        setText(payMsg, errorText(r, "We could not start your payment. Please try again."));
      }, function () {
        setBusy(false);
        setText(payMsg, offline);
      });
    });

    release.addEventListener("click", function () {
      if (busy) return;
      setBusy(true);
      setText(release, "Releasing\u2026");
      call("DELETE", d.releaseUrl).then(function (r) {
        if (r.status === 204 || r.status === 200 || r.status === 404 || r.status === 410) {
          drop(keyName);
          location.assign(d.eventUrl || "/");
          return;
        }
        setBusy(false);
        setText(release, "Release these seats");
        setText(payMsg, r.status === 401 ? passEnded : errorText(r, serverTrouble));
      }, function () {
        setBusy(false);
        setText(release, "Release these seats");
        setText(payMsg, offline);
      });
    });
  }

  // ---- The order page: pay again, wait for the payment, tickets. ----

  function orderPage() {
    var d = root.dataset;
    var msg = $("order-msg");
    var retry = $("retry");

    if (d.status === "pending" && d.lastPayment === "processing") poll();
    else if (d.status === "pending" && $("clock")) {
      var ms = Number(d.remainingMs) || 0;
      // Reload at zero, so the server says what became of the order; a
      // page that starts at zero has nothing to wait for.
      if (ms > 0) countdown(ms, $("clock"), $("announce"), $("held"), function () { location.reload(); });
    }

    if (retry) {
      var label = retry.textContent;
      retry.hidden = false;
      retry.addEventListener("click", function () {
        if (retry.disabled) return;
        retry.disabled = true;
        setText(retry, "Starting payment\u2026");
        setText(msg, "");
        call("POST", d.retryUrl, {}).then(function (r) {
          var p = r.data.payment;
          if ((r.status === 201 || r.status === 200) && p && p.checkout_url && leave(p.checkout_url)) return;
          retry.disabled = false;
          setText(retry, label);
          if (r.status === 401) return setText(msg, passEnded);
          if (r.status === 409 || r.status === 410) {
            setText(msg, errorText(r, "This order can no longer be paid.") + " Reload this page to see where it stands.");
            return;
          }
          setText(msg, r.status >= 500 ? serverTrouble : errorText(r, "We could not start your payment. Please try again."));
        }, function () {
          retry.disabled = false;
          setText(retry, label);
          setText(msg, offline);
        });
      });
    }

    // poll asks for the order every 1.5 s for at most 2 minutes, and reloads
    // the page when its status changes or its last payment failed.
    function poll() {
      var start = performance.now();
      var failedKey = "usher:failed-attempt:" + (d.order || "");
      function once() {
        if (performance.now() - start > 120000) {
          var lead = $("lead");
          if (lead) lead.classList.remove("working");
          setText(msg, "This is taking longer than usual. Your seats stay yours while the payment is confirmed: reload this page in a minute to see where it stands.");
          return;
        }
        call("GET", d.statusUrl).then(function (r) {
          if (r.status === 401) return setText(msg, passEnded);
          var o = r.data;
          if (r.status === 200 && o.status && o.status !== d.status) return location.reload();
          var pays = r.status === 200 && o.payments && o.payments.length ? o.payments : [];
          var last = pays[pays.length - 1];
          // Reload once for a failed attempt: the page then offers another
          // card, and a page that still says "processing" does not loop.
          if (last && last.status === "failed" && load(failedKey) !== String(last.attempt)) {
            save(failedKey, String(last.attempt));
            return location.reload();
          }
          setTimeout(once, 1500);
        }, function () {
          setTimeout(once, 1500);
        });
      }
      setTimeout(once, 1000);
    }
  }

  var page = root.getAttribute("data-page");
  if (page === "event") eventPage();
  else if (page === "hold") holdPage();
  else if (page === "order") orderPage();
})();
