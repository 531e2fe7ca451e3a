// Kiln's web interface: live pages and the job log (docs/ui.md). Progressive enhancement only:
// every page works without it. Log bytes are only ever put in the page as text (textContent).
"use strict";

(function () {
  // Live pages: the server sends the page's version; when it changes, the live regions are reloaded.
  const live = document.body.dataset.live;
  if (live && window.EventSource) {
    let version = document.body.dataset.version || "";
    let reloading = false;
    const refresh = async () => {
      if (reloading) return;
      reloading = true;
      try {
        const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const region of document.querySelectorAll("[data-live-region][id]")) {
          const next = fresh.getElementById(region.id);
          if (next) region.replaceChildren(...Array.from(next.childNodes).map(n => document.importNode(n, true)));
        }
        const open = fresh.body.dataset.version;
        if (open) document.body.dataset.version = open;
        // A job page opened before its first attempt: the log starts once a worker has taken it.
        const log = document.getElementById("log"), freshLog = fresh.getElementById("log");
        if (log && log.dataset.attempt === "0" && freshLog && freshLog.dataset.attempt !== "0") {
          log.dataset.attempt = freshLog.dataset.attempt;
          document.getElementById("log-title").textContent = fresh.getElementById("log-title").textContent;
          followLog(log);
        }
      } finally {
        reloading = false;
      }
    };
    const events = new EventSource(live);
    events.addEventListener("version", e => {
      const now = JSON.parse(e.data);
      if (now !== version) { version = now; refresh(); }
    });
    events.addEventListener("end", () => { events.close(); refresh(); });
  }

  const log = document.getElementById("log");
  if (log && log.dataset.attempt !== "0") followLog(log);

  function followLog(pre) {
    const base = pre.dataset.src, attempt = pre.dataset.attempt;
    const info = document.getElementById("log-info");
    const followButton = document.getElementById("log-follow");
    const earlier = document.getElementById("log-earlier");
    const search = document.getElementById("log-search");
    let follow = true, first = 0, numbered = false, lineNo = 0, pending = "", section = null, style = [];

    const setFollow = on => {
      follow = on;
      followButton.setAttribute("aria-pressed", on ? "true" : "false");
      followButton.textContent = on ? "Following" : "Follow";
      if (on) pre.scrollTop = pre.scrollHeight;
    };
    followButton.addEventListener("click", () => setFollow(!follow));
    pre.addEventListener("scroll", () => {
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      if (follow && !atEnd) setFollow(false);
    });

    // ANSI: SGR colours and bold become classes; every other escape or control character is dropped.
    const sgr = /\x1b\[([0-9;]*)m/g;
    function appendText(parent, text) {
      let at = 0, m;
      sgr.lastIndex = 0;
      while ((m = sgr.exec(text)) !== null) {
        piece(parent, text.slice(at, m.index));
        for (const code of (m[1] || "0").split(";").map(Number)) {
          if (code === 0) style = [];
          else if (code === 1) style = style.filter(s => s !== "ansi-bold").concat("ansi-bold");
          else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) style = style.filter(s => !/^ansi-\d/.test(s)).concat("ansi-" + (code >= 90 ? code - 60 : code));
          else if (code === 39) style = style.filter(s => !/^ansi-\d/.test(s));
        }
        at = sgr.lastIndex;
      }
      piece(parent, text.slice(at));
    }
    function piece(parent, text) {
      text = text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[^\[]|[\x00-\x08\x0b-\x1f\x7f]/g, "");
      if (!text) return;
      if (style.length === 0) { parent.appendChild(document.createTextNode(text)); return; }
      const span = document.createElement("span");
      span.className = style.join(" ");
      span.textContent = text;
      parent.appendChild(span);
    }

    // One line: a span with an anchor (when the log was read from its start), folding ::group:: sections.
    // Sections: GitLab's markers (section_start:UNIX:name[options]\r\e[0KHeader … section_end:UNIX:name, timed by
    // their own timestamps) and GitHub's (::group::Title … ::endgroup::, with their line count).
    function makeLine(text, into) {
      const plain = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
      const start = /^section_start:(\d+):([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\r?(.*)$/.exec(plain) || /^(?:::group::|##\[group\])(.*)$/.exec(plain);
      if (start) {
        const details = document.createElement("details");
        details.open = true;
        const summary = document.createElement("summary");
        summary.textContent = (start.length === 4 ? start[3] || start[2] : start[1]) || "section";
        details.appendChild(summary);
        if (start.length === 4) { details.dataset.started = start[1]; details.dataset.name = start[2]; }
        into.appendChild(details);
        section = details;
        return;
      }
      const end = /^section_end:(\d+):([A-Za-z0-9_.-]+)/.exec(plain);
      if ((end || /^(?:::endgroup::|##\[endgroup\])/.test(plain)) && section) {
        const lines = section.querySelectorAll(".line").length;
        const took = document.createElement("span");
        took.className = "took";
        const seconds = end && section.dataset.started ? Number(end[1]) - Number(section.dataset.started) : null;
        took.textContent = (seconds !== null ? (seconds < 60 ? seconds + " s" : Math.floor(seconds / 60) + " min " + (seconds % 60) + " s") + ", " : "") +
          lines + " line" + (lines === 1 ? "" : "s");
        section.firstChild.appendChild(took);
        if (!follow) section.open = false;
        section = null;
        return;
      }
      const line = document.createElement("span");
      line.className = "line";
      if (numbered) {
        lineNo++;
        line.id = "L" + lineNo;
        const a = document.createElement("a");
        a.className = "ln";
        a.href = "#L" + lineNo;
        a.textContent = String(lineNo);
        a.setAttribute("aria-hidden", "true");
        a.tabIndex = -1;
        line.appendChild(a);
      }
      appendText(line, text + "\n");
      (section || into).appendChild(line);
    }

    function append(text, end) {
      pending += text;
      const parts = pending.split("\n");
      pending = end ? "" : parts.pop();
      if (end && parts.length && parts[parts.length - 1] === "") parts.pop();
      for (const p of parts) makeLine(p.replace(/\r$/, ""), pre);
      if (follow) pre.scrollTop = pre.scrollHeight;
    }

    async function range(from, to) {
      const q = new URLSearchParams({ attempt });
      if (from !== undefined) q.set("from", from);
      if (to !== undefined) q.set("to", to);
      const response = await fetch(base + "/range?" + q, { credentials: "same-origin" });
      if (!response.ok) throw new Error(await response.text());
      return { text: await response.text(), from: Number(response.headers.get("Kiln-Log-From")), size: Number(response.headers.get("Kiln-Log-Size")),
        complete: response.headers.get("Kiln-Log-Complete") === "true" };
    }

    const describe = (size, complete) => {
      info.textContent = (first > 0 ? "showing the last " + kib(size - first) + " of " + kib(size) : kib(size)) + (complete ? "" : ", live");
    };
    const kib = n => n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB";

    earlier.addEventListener("click", async () => {
      const to = first, from = Math.max(0, first - 262144);
      const older = await range(from, to);
      const holder = document.createElement("div");
      const saveSection = section, savePending = pending, saveStyle = style, saveNumbered = numbered;
      section = null; pending = ""; style = []; numbered = false;
      const parts = older.text.split("\n");
      for (const p of parts) makeLine(p.replace(/\r$/, ""), holder);
      section = saveSection; pending = savePending; style = saveStyle; numbered = saveNumbered;
      const keep = pre.scrollHeight - pre.scrollTop;
      pre.insertBefore(holder, pre.firstChild);
      pre.scrollTop = pre.scrollHeight - keep;
      first = from;
      earlier.hidden = first === 0;
      earlier.textContent = "Load earlier (" + kib(first) + " more)";
      describe(older.size, false);
    });

    search.addEventListener("input", () => {
      const needle = search.value;
      let hits = 0, firstHit = null;
      for (const line of pre.querySelectorAll(".line")) {
        const hit = needle.length > 0 && line.textContent.includes(needle);
        line.classList.toggle("hit", hit);
        if (hit) { hits++; firstHit = firstHit || line; }
      }
      if (firstHit) { setFollow(false); firstHit.scrollIntoView({ block: "center" }); }
      info.textContent = needle ? hits + " matching line" + (hits === 1 ? "" : "s") : "";
    });

    (async () => {
      const tail = await range();
      first = tail.from;
      numbered = first === 0;
      earlier.hidden = first === 0;
      if (first > 0) {
        earlier.textContent = "Load earlier (" + kib(first) + " more)";
        // the tail starts inside a line: drop that piece
        const cut = tail.text.indexOf("\n");
        tail.text = cut >= 0 ? tail.text.slice(cut + 1) : tail.text;
      }
      append(tail.text, tail.complete);
      describe(tail.size, tail.complete);
      if (location.hash.startsWith("#L")) { const target = document.getElementById(location.hash.slice(1)); if (target) { setFollow(false); target.scrollIntoView(); } }
      if (tail.complete) { pre.dataset.complete = "true"; return; }
      const stream = new EventSource(base + "/stream?" + new URLSearchParams({ attempt, offset: tail.size }));
      let size = tail.size;
      stream.addEventListener("chunk", e => { const t = JSON.parse(e.data); size += new TextEncoder().encode(t).length; append(t, false); describe(size, false); });
      stream.addEventListener("end", () => { stream.close(); append("", true); describe(size, true); pre.dataset.complete = "true"; });
    })().catch(e => { info.textContent = "The log could not be read: " + e.message; });
  }
})();
