(function () {
  "use strict";
  // Everything that varies per visitor comes from data-* attributes, so this
  // text never changes and the Content-Security-Policy can allow it by hash.
  var root = document.getElementById("challenge");
  if (!root) return;
  var barEl = document.getElementById("progress");
  var statusEl = document.getElementById("status");

  var sliceTries = 50000; // tries between two progress reports of the worker
  var maxBackoffMs = 30000;

  var current = null; // the challenge being solved or sent
  var run = 0; // bumped by every start, so that callbacks of an older one do nothing
  var worker = null;
  var noWorker = false; // a worker failed once: solve on the page from then on
  var failures = 0;
  var timer = 0;

  // solver searches for the nonce, counting up from 0, such that
  // SHA-256(prefix + nonce) starts with bits zero bits. prefix + nonce fits
  // one 64-byte block, so it hashes that block alone, and the rounds of the
  // words that hold only prefix bytes are done once. It refers to nothing
  // else in this script: its source text is also the worker's.
  function solver(prefix, bits) {
    var K = new Int32Array([
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    ]);
    var H0 = 0x6a09e667 | 0;
    var msg = new Uint8Array(64);
    var W = new Int32Array(64);
    var S = new Int32Array(8); // the state after the rounds that never change
    var plen = prefix.length;
    var len = plen + 1; // prefix and nonce, in bytes
    var maxLen = 55; // what fits before the padding and the length
    var tries = 0;
    var i, t, x;
    for (i = 0; i < plen; i++) msg[i] = prefix.charCodeAt(i) & 0xff;

    // layout writes the nonce "1" followed by zeros (or "0") ending at len,
    // and the padding and length after it.
    function layout(first) {
      msg[plen] = first;
      for (var j = plen + 1; j < len; j++) msg[j] = 48;
      msg[len] = 0x80;
      for (j = len + 1; j < 62; j++) msg[j] = 0;
      msg[62] = len >>> 5; // the length in bits, big-endian: len·8 < 2^16
      msg[63] = (len << 3) & 0xff;
    }
    layout(48);

    // The words made of prefix bytes alone, and the rounds over them, are the
    // same for every nonce: do them once.
    var fixed = plen >> 2;
    var a = H0, b = 0xbb67ae85 | 0, c = 0x3c6ef372, d = 0xa54ff53a | 0;
    var e = 0x510e527f, f = 0x9b05688c | 0, g = 0x1f83d9ab, h = 0x5be0cd19;
    for (t = 0; t < fixed; t++) {
      x = W[t] = (msg[4 * t] << 24) | (msg[4 * t + 1] << 16) | (msg[4 * t + 2] << 8) | msg[4 * t + 3];
      var T1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) + K[t] + x) | 0;
      var T2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + T1) | 0; d = c; c = b; b = a; a = (T1 + T2) | 0;
    }
    S[0] = a; S[1] = b; S[2] = c; S[3] = d; S[4] = e; S[5] = f; S[6] = g; S[7] = h;

    // hit hashes the block as it stands and says whether it is a solution.
    function hit() {
      var m = msg, w = W, k = K, t, x, y, T1, T2;
      for (t = fixed; t < 16; t++) {
        w[t] = (m[4 * t] << 24) | (m[4 * t + 1] << 16) | (m[4 * t + 2] << 8) | m[4 * t + 3];
      }
      for (t = 16; t < 64; t++) {
        x = w[t - 15];
        y = w[t - 2];
        w[t] = (w[t - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
          w[t - 7] + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
      }
      var a = S[0], b = S[1], c = S[2], d = S[3], e = S[4], f = S[5], g = S[6], h = S[7];
      for (t = fixed; t < 64; t++) {
        T1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          ((e & f) ^ (~e & g)) + k[t] + w[t]) | 0;
        T2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
          ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + T1) | 0; d = c; c = b; b = a; a = (T1 + T2) | 0;
      }
      // The hash's first 32 bits; bits is at most 32.
      return Math.clz32((a + H0) | 0) >= bits;
    }

    // next counts the nonce up by one, in place in the block.
    function next() {
      var j = len - 1;
      while (j >= plen && msg[j] === 57) msg[j--] = 48;
      if (j >= plen) {
        msg[j]++;
      } else {
        len++;
        layout(49);
      }
    }

    return {
      // run tries up to n nonces and returns the one that solves the
      // puzzle, or null.
      run: function (n) {
        for (var i = 0; i < n; i++) {
          if (len > maxLen) throw new Error("no nonce left to try");
          tries++;
          if (hit()) {
            var nonce = String.fromCharCode.apply(null, msg.subarray(plen, len));
            next();
            return nonce;
          }
          next();
        }
        return null;
      },
      tries: function () { return tries; }
    };
  }

  // work is the worker's body: it solves the puzzle it is sent, telling how
  // many nonces it has tried every slice tries, and then the nonce.
  function work(solver, slice) {
    self.onmessage = function (e) {
      var s = solver(e.data.prefix, e.data.bits);
      for (;;) {
        var nonce = s.run(slice);
        self.postMessage({ tries: s.tries(), nonce: nonce });
        if (nonce !== null) return;
      }
    };
  }

  // The worker runs from a blob: URL of this source (CSP allows no script
  // URL), and shares the solver with the page's own fallback.
  var workerSource = "\"use strict\";(" + work + ")(" + solver + ", " + sliceTries + ");";

  function challengeOf(token, id, bits, submit) {
    bits = Math.floor(Number(bits));
    if (typeof token !== "string" || !token) return null;
    if (typeof id !== "string" || !/^[A-Za-z0-9_-]{1,33}$/.test(id)) return null;
    // The solution goes to this site only, never to another origin.
    if (typeof submit !== "string" || submit.charAt(0) !== "/" || /^\/[\/\\]/.test(submit)) return null;
    if (!isFinite(bits)) return null;
    return { token: token, id: id, bits: Math.min(Math.max(bits, 1), 32), submit: submit };
  }

  function say(text, trouble) {
    root.className = "card" + (trouble ? " offline" : "");
    statusEl.className = trouble ? "notice" : "";
    if (statusEl.textContent !== text) statusEl.textContent = text;
  }

  function show(pct) {
    if (barEl.value !== pct) {
      barEl.value = pct;
      barEl.textContent = pct + "%";
    }
  }

  // progress shows the chance that a search of this many tries has found
  // the nonce, 1 - e^(-tries / 2^bits): an honest figure for a search that
  // may end at any try. It says 100% only once the nonce is found.
  function progress(tries) {
    var p = 1 - Math.exp(-tries / Math.pow(2, current.bits));
    show(Math.min(99, Math.floor(100 * p)));
  }

  function stop() {
    clearTimeout(timer);
    if (worker) {
      worker.terminate();
      worker = null;
    }
  }

  function start(ch, text) {
    stop();
    var mine = ++run;
    current = ch;
    failures = 0;
    show(0);
    say(text || "Checking your browser…", false);
    var prefix = ch.id + ":";
    if (noWorker || !startWorker(prefix, ch.bits, mine)) solveHere(prefix, ch.bits, mine);
  }

  function startWorker(prefix, bits, mine) {
    if (!window.Worker || !window.Blob || !window.URL || !URL.createObjectURL) return false;
    var url = null, w;
    try {
      url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
      w = new Worker(url);
    } catch (err) {
      if (url) URL.revokeObjectURL(url);
      noWorker = true;
      return false;
    }
    var heard = false;
    function forget() {
      if (!heard) URL.revokeObjectURL(url);
      heard = true;
    }
    worker = w;
    root.setAttribute("data-solver", "worker");
    w.onmessage = function (e) {
      forget();
      if (mine !== run) return;
      progress(e.data.tries);
      if (e.data.nonce !== null) {
        stop();
        solved(e.data.nonce, mine);
      }
    };
    w.onerror = function (e) {
      if (e && e.preventDefault) e.preventDefault();
      forget();
      if (mine !== run) return;
      // A worker that cannot run (blocked, or broken): solve here instead.
      noWorker = true;
      stop();
      solveHere(prefix, bits, mine);
    };
    w.postMessage({ prefix: prefix, bits: bits });
    return true;
  }

  // solveHere solves on the page itself, in slices of about 30 ms between
  // which the page stays responsive.
  function solveHere(prefix, bits, mine) {
    root.setAttribute("data-solver", "page");
    var s = solver(prefix, bits);
    function slice() {
      if (mine !== run) return;
      var end = Date.now() + 30, nonce = null;
      do nonce = s.run(2000); while (nonce === null && Date.now() < end);
      progress(s.tries());
      if (nonce !== null) solved(nonce, mine);
      else timer = setTimeout(slice, 0);
    }
    timer = setTimeout(slice, 0);
  }

  function solved(nonce, mine) {
    show(100);
    say("Done. Joining the line…", false);
    send(nonce, mine);
  }

  // failed is the error for an answer that brought no new challenge: it is
  // worth sending the same solution again.
  function failed(status) {
    return new Error("status " + status);
  }

  function send(nonce, mine) {
    var ch = current;
    var ctl = window.AbortController ? new AbortController() : null;
    var guard = setTimeout(function () { if (ctl) ctl.abort(); }, 15000);
    fetch(ch.submit, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" },
      body: "token=" + encodeURIComponent(ch.token) + "&nonce=" + nonce,
      cache: "no-store",
      signal: ctl ? ctl.signal : undefined
    }).then(function (r) {
      if (mine !== run) return;
      if (r.ok) {
        // The site now holds this visitor's proof: loading the page again
        // shows the line.
        run++;
        location.reload();
        return;
      }
      if (r.status !== 429 && r.status !== 403) throw failed(r.status);
      return r.json().then(function (body) {
        var c = body && body.challenge;
        var next = c && challengeOf(c.token, c.id, c.bits, c.submit);
        if (!next) throw failed(r.status);
        if (mine === run) start(next, "One more check, a few seconds more…");
      }, function () {
        throw failed(r.status);
      });
    }).catch(function () {
      if (mine !== run) return;
      failures++;
      // Jitter spreads out the visitors who failed together.
      var ms = Math.min(maxBackoffMs, 2000 * Math.pow(2, failures - 1)) * (0.8 + 0.2 * Math.random());
      var secs = Math.max(1, Math.round(ms / 1000));
      say("We could not finish the check just now. Trying again in " + secs +
        (secs === 1 ? " second." : " seconds."), true);
      timer = setTimeout(function () {
        if (mine !== run) return;
        say("Trying again…", false);
        send(nonce, mine);
      }, ms);
    }).then(function () {
      clearTimeout(guard);
    });
  }

  var first = challengeOf(root.dataset.token, root.dataset.id, root.dataset.bits, root.dataset.submitUrl);
  if (!first || !window.fetch) {
    say("This check cannot run in this browser. Please reload this page, or try another browser.", true);
    return;
  }
  start(first);
})();
