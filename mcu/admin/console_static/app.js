// The operator console: plain JavaScript, no framework, no build step. It acts only through the
// admin API's commands (session cookie + X-CSRF-Token) and shows the live feed's snapshots.
"use strict";
(function () {
  const TEXT = window.MCU_TEXT;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  let lang = localStorage.getItem("mcu.lang") || document.documentElement.dataset.language || "vi";
  let csrf = null;
  let loggedIn = false;
  let socket = null;
  let socketRoom = null;
  let reconnectTimer = null;
  let currentRoom = null;
  let last = null; // the newest snapshot from the feed
  let layouts = null; // {layouts: [...], groups: [...]}

  function t(key) {
    return (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    $$("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $$("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    $$("[data-lang]").forEach((el) => el.classList.toggle("active", el.dataset.lang === lang));
    document.title = t("app_title");
    setFeedState(Boolean(socket && socket.readyState === WebSocket.OPEN));
    if (last) render(last);
  }

  let toastTimer = null;
  function toast(message, isError) {
    const box = $("#toast");
    box.textContent = message;
    box.dataset.kind = isError ? "error" : "ok";
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 2500);
  }

  async function api(method, path, body) {
    const headers = {};
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      if (csrf) headers["X-CSRF-Token"] = csrf;
    }
    const response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: method === "GET" ? undefined : JSON.stringify(body || {}),
    });
    let doc = null;
    try { doc = await response.json(); } catch (e) { doc = null; }
    if (response.status === 401 && loggedIn) {
      showLogin(t("session_expired"));
    }
    if (!response.ok) {
      const message = (doc && doc.error) || String(response.status);
      toast(message, true);
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return doc ? doc.result : null;
  }

  async function act(method, path, body) {
    try {
      await api(method, path, body);
      toast(t("done"), false);
    } catch (e) { /* the toast says why */ }
  }

  // ---------------------------------------------------------------- views and routing

  function show(view) {
    $$(".view").forEach((el) => { el.hidden = el.id !== "view-" + view; });
    $("#logout").hidden = !loggedIn;
    document.body.dataset.view = view;
  }

  function showLogin(message) {
    loggedIn = false;
    csrf = null;
    closeFeed();
    show("login");
    const error = $("#login-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  function route() {
    if (!loggedIn) return;
    const match = location.hash.match(/^#\/room\/([A-Za-z0-9_.\-]{1,32})$/);
    currentRoom = match ? match[1] : null;
    if (currentRoom) {
      show("room");
      $("#room-title").textContent = currentRoom;
      $("#snapshot-img").hidden = true;
      loadLayouts();
    } else {
      show("rooms");
    }
    openFeed(currentRoom);
    if (last) render(last);
  }

  // ---------------------------------------------------------------- the live feed

  function closeFeed() {
    clearTimeout(reconnectTimer);
    if (socket) {
      socket.onclose = null;
      socket.close();
      socket = null;
    }
    setFeedState(false);
  }

  function setFeedState(on) {
    const badge = $("#feed-state");
    badge.dataset.state = on ? "on" : "off";
    badge.textContent = loggedIn ? t(on ? "feed_on" : "feed_off") : "";
  }

  function openFeed(room) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      if (socketRoom !== room) {
        socket.send(JSON.stringify({ room: room }));
        socketRoom = room;
        last = null;
      }
      return;
    }
    closeFeed();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = room ? "?room=" + encodeURIComponent(room) : "";
    socket = new WebSocket(scheme + "//" + location.host + "/console/live" + query);
    socketRoom = room;
    socket.onopen = () => setFeedState(true);
    socket.onmessage = (message) => {
      let doc;
      try { doc = JSON.parse(message.data); } catch (e) { return; }
      if (doc.type === "snapshot") {
        last = doc;
        render(doc);
      }
    };
    socket.onclose = () => {
      socket = null;
      setFeedState(false);
      if (!loggedIn) return;
      // the session may have ended; else the MCU restarted or the network blinked
      reconnectTimer = setTimeout(() => {
        api("GET", "/console/session").then(() => openFeed(currentRoom), () => {});
      }, 1000);
    };
  }

  // ---------------------------------------------------------------- rendering

  function text(value) {
    return value === null || value === undefined || value === "" ? t("none") : String(value);
  }

  function cell(row, index) {
    while (row.cells.length <= index) row.insertCell();
    return row.cells[index];
  }

  function setText(el, value) {
    if (el.textContent !== value) el.textContent = value;
  }

  function keyedRows(tbody, items, key, build, update) {
    const seen = new Set();
    items.forEach((item, i) => {
      const id = String(key(item));
      seen.add(id);
      let row = tbody.querySelector('tr[data-key="' + CSS.escape(id) + '"]');
      if (!row) {
        row = document.createElement("tr");
        row.dataset.key = id;
        build(row, item);
      }
      if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] || null);
      update(row, item);
    });
    Array.from(tbody.rows).forEach((row) => { if (!seen.has(row.dataset.key)) row.remove(); });
  }

  function render(doc) {
    setClock();
    if (currentRoom === null) renderRooms(doc.rooms || []);
    else if (doc.room && doc.room.number === currentRoom) renderRoom(doc);
  }

  function outputState(value) {
    if (!value) return t("none");
    return (TEXT[lang] && TEXT[lang]["state_" + value]) || value;
  }

  function renderRooms(rooms) {
    const tbody = $("#rooms-table tbody");
    keyedRows(tbody, rooms, (r) => r.number, (row, r) => {
      row.dataset.room = r.number;
      const link = document.createElement("a");
      link.href = "#/room/" + encodeURIComponent(r.number);
      link.textContent = r.number;
      cell(row, 0).appendChild(link);
    }, (row, r) => {
      setText(cell(row, 1), r.name || "");
      setText(cell(row, 2), r.joined + " / " + r.max_members);
      cell(row, 2).dataset.field = "members";
      setText(cell(row, 3), r.locked ? t("yes") : t("no"));
      setText(cell(row, 4), r.layout);
      setText(cell(row, 5), t("mode_" + r.mode));
      setText(cell(row, 6), text(r.floor_name));
      setText(cell(row, 7), r.content === "operator" ? t("content_operator") : text(r.content));
      setText(cell(row, 8), outputState(r.recording));
      setText(cell(row, 9), outputState(r.stream));
      const live = cell(row, 10);
      live.className = "live";
      live.dataset.live = r.joined > 0 ? "1" : "0";
      setText(live, r.joined > 0 ? "● " + t("live") : "");
    });
  }

  function roomInfo(doc) {
    return (doc.rooms || []).find((r) => r.number === currentRoom) || null;
  }

  function badge(label, kind) {
    const span = document.createElement("span");
    span.className = "badge";
    if (kind) span.dataset.kind = kind;
    span.textContent = label;
    return span;
  }

  function regionCount(info) {
    if (!layouts || !info) return 9;
    const byName = {};
    layouts.layouts.forEach((l) => { byName[l.name] = l.capacity; });
    if (info.layout in byName) return byName[info.layout];
    const group = layouts.groups.find((g) => g.name === info.layout);
    return group ? Math.max(1, ...group.layouts.map((n) => byName[n] || 1)) : 9;
  }

  function renderRoom(doc) {
    const info = roomInfo(doc);
    const room = doc.room;
    const badges = $("#room-badges");
    badges.replaceChildren();
    if (room.error) {
      badges.appendChild(badge(room.error, "error"));
      return;
    }
    if (info) {
      $("#room-title").textContent = info.number + " · " + (info.name || "");
      if (info.locked) badges.appendChild(badge(t("locked"), "warn"));
      badges.appendChild(badge(t("mode") + ": " + t("mode_" + info.mode)));
      badges.appendChild(badge(t("layout") + ": " + info.layout));
      if (info.recording) badges.appendChild(badge(t("recording") + ": " + outputState(info.recording), "rec"));
      if (info.stream) badges.appendChild(badge(t("stream") + ": " + outputState(info.stream), "rec"));
      const select = $("#mode-select");
      if (document.activeElement !== select) select.value = info.mode;
      $$("#layouts figure").forEach((fig) => fig.classList.toggle("selected", fig.dataset.layout === info.layout));
    }
    const regions = regionCount(info);
    const floorShown = info ? info.floor_shown : null;
    const members = room.members || [];
    $("#members-empty").hidden = members.length > 0;
    keyedRows($("#members-table tbody"), members, (m) => m.id, (row, m) => {
      row.dataset.member = m.id;
      const speak = document.createElement("span");
      speak.className = "speak";
      cell(row, 0).appendChild(speak);
      const name = cell(row, 1);
      name.className = "name";
      const title = document.createElement("div");
      title.className = "member-name";
      const flags = document.createElement("div");
      flags.className = "member-flags small";
      name.append(title, flags);
      const actions = cell(row, 6);
      actions.className = "actions";
      actions.innerHTML =
        '<button type="button" data-action="mute"></button>' +
        '<button type="button" data-action="deaf"></button>' +
        '<button type="button" data-action="floor"></button>' +
        '<select data-field="region"></select><button type="button" data-action="pin"></button>' +
        '<button type="button" data-action="remove" class="danger"></button>';
    }, (row, m) => {
      const speak = $(".speak", row);
      speak.dataset.speaking = m.speaking ? "1" : "0";
      speak.title = m.speaking ? t("speaking") : "";
      row.dataset.speaking = m.speaking ? "1" : "0";
      row.dataset.muted = m.muted ? "1" : "0";
      const flags = [m.chair ? t("chair") : "", m.muted ? t("muted") : "", m.deaf ? t("deafened") : "",
        m.id === floorShown ? t("floor_flag") : "", m.speaking ? t("speaking") : ""].filter(Boolean);
      setText($(".member-name", row), m.name || ("#" + m.id));
      setText($(".member-flags", row), flags.join(" · "));
      const audio = m.audio || {};
      const video = m.video || {};
      setText(cell(row, 2), text(audio.codec));
      const vin = video.in ? text(video.in.codec) + " " + text(video.in.resolution) : t("none");
      const vout = video.out ? video.out.resolution : t("none");
      setText(cell(row, 3), vin + " → " + vout);
      setText(cell(row, 4), text(audio.loss_percent));
      setText(cell(row, 5), text(audio.jitter_ms));
      const mute = $('[data-action="mute"]', row);
      setText(mute, m.muted ? t("unmute") : t("mute"));
      mute.dataset.on = m.muted ? "1" : "0";
      const deaf = $('[data-action="deaf"]', row);
      setText(deaf, m.deaf ? t("undeaf") : t("deaf"));
      deaf.dataset.on = m.deaf ? "1" : "0";
      setText($('[data-action="floor"]', row), t("give_floor"));
      setText($('[data-action="pin"]', row), t("pin"));
      setText($('[data-action="remove"]', row), t("remove"));
      const select = $('[data-field="region"]', row);
      if (select.options.length !== regions || select.dataset.lang !== lang) {
        const keep = select.value;
        select.dataset.lang = lang;
        select.replaceChildren(...Array.from({ length: regions }, (_, i) => new Option(t("region") + " " + i, String(i))));
        if (keep && Number(keep) < regions) select.value = keep;
      }
    });
    keyedRows($("#roster-table tbody"), room.roster || [], (s) => s.site, (row, s) => {
      row.dataset.site = s.site;
      const name = document.createElement("div");
      name.className = "site-name";
      const id = document.createElement("div");
      id.className = "muted small";
      cell(row, 0).append(name, id);
      const dial = document.createElement("button");
      dial.type = "button";
      dial.dataset.action = "dial-site";
      cell(row, 2).appendChild(dial);
    }, (row, s) => {
      setText($(".site-name", row), s.name + (s.role === "chair" ? " (" + t("chair") + ")" : ""));
      setText($(".muted", row), s.site + " · " + s.uri);
      const status = cell(row, 1);
      status.dataset.status = s.status;
      status.className = "status";
      setText(status, t(s.status));
      row.dataset.status = s.status;
      const dial = $('[data-action="dial-site"]', row);
      setText(dial, s.status === "dropped" ? t("call_again") : t("dial"));
      dial.hidden = s.status === "present" || s.status === "ringing";
    });
    renderContent(room.content, members);
    const snap = $("#snapshot-member");
    const options = members.map((m) => m.id + ":" + (m.name || ""));
    if (snap.dataset.options !== options.join("|")) {
      const keep = snap.value;
      snap.replaceChildren(...members.map((m) => new Option(m.name || ("#" + m.id), String(m.id))));
      if (members.some((m) => String(m.id) === keep)) snap.value = keep;
      snap.dataset.options = options.join("|");
    }
  }

  function renderContent(content, members) {
    const box = $("#content-state");
    let line = t("content_none");
    if (content && content.holder === "operator") {
      line = t("content_operator");
      if (content.slides) {
        line += ": " + content.slides.file + ", " + t("page") + " " + content.slides.page + "/" + content.slides.pages;
      }
    } else if (content && content.holder !== null && content.holder !== undefined) {
      line = t("content_by") + ": " + (content.holder_name || ("#" + content.holder));
    }
    if (content && content.pending && content.pending.length) {
      const names = content.pending.map((id) => {
        const m = members.find((x) => x.id === id);
        return m ? m.name : "#" + id;
      });
      line += " · " + t("content_waiting") + ": " + names.join(", ");
    }
    setText(box, line);
    box.dataset.holder = content && content.holder !== null && content.holder !== undefined ? String(content.holder) : "";
    box.dataset.page = content && content.slides ? String(content.slides.page) : "";
    box.dataset.pages = content && content.slides ? String(content.slides.pages) : "";
    const select = $("#content-member");
    const options = members.map((m) => m.id + ":" + (m.name || ""));
    if (select.dataset.options !== options.join("|")) {
      const keep = select.value;
      select.replaceChildren(...members.map((m) => new Option(m.name || ("#" + m.id), String(m.id))));
      if (members.some((m) => String(m.id) === keep)) select.value = keep;
      select.dataset.options = options.join("|");
    }
  }

  function slidesPage(step) {
    const box = $("#content-state");
    const page = Number(box.dataset.page || 0) + step;
    if (!box.dataset.page || page < 1 || page > Number(box.dataset.pages)) return null;
    return act("POST", roomPath("/content/page"), { page: page });
  }

  async function loadLayouts() {
    if (layouts) return;
    try {
      layouts = await api("GET", "/layouts");
    } catch (e) { return; }
    const box = $("#layouts");
    box.replaceChildren();
    const names = layouts.groups.map((g) => g.name).concat(layouts.layouts.map((l) => l.name));
    names.forEach((name) => {
      const fig = document.createElement("figure");
      fig.dataset.layout = name;
      fig.tabIndex = 0;
      const img = document.createElement("img");
      img.loading = "lazy";
      img.alt = name;
      img.src = "/layouts/" + encodeURIComponent(name) + "/preview";
      const caption = document.createElement("figcaption");
      caption.textContent = name;
      fig.append(img, caption);
      box.appendChild(fig);
    });
    if (last) render(last);
  }

  function setClock() {
    const now = new Date();
    $("#clock").textContent = now.toLocaleTimeString(lang === "vi" ? "vi-VN" : "en-GB");
  }

  // ---------------------------------------------------------------- actions

  function roomPath(suffix) {
    return "/rooms/" + encodeURIComponent(currentRoom) + suffix;
  }

  const roomActions = {
    "lock": () => act("POST", roomPath("/lock")),
    "unlock": () => act("POST", roomPath("/unlock")),
    "mute-all": () => act("POST", roomPath("/members/all/mute")),
    "unmute-all": () => act("POST", roomPath("/members/all/unmute")),
    "floor-auto": () => act("POST", roomPath("/floor"), { target: "auto" }),
    "unpin-all": () => act("POST", roomPath("/unpin"), {}),
    "dial-roster": () => act("POST", roomPath("/dial-roster")),
    "redial": () => act("POST", roomPath("/redial")),
    "record-start": () => act("POST", roomPath("/recording/start"), {}),
    "record-stop": () => act("POST", roomPath("/recording/stop")),
    "stream-stop": () => act("POST", roomPath("/stream/stop")),
    "content-revoke": () => act("POST", roomPath("/content/revoke")),
    "content-stop": () => act("POST", roomPath("/content/stop")),
    "slides-prev": () => slidesPage(-1),
    "slides-next": () => slidesPage(1),
  };

  function memberAction(button) {
    const row = button.closest("tr[data-member]");
    const id = row.dataset.member;
    const action = button.dataset.action;
    const base = roomPath("/members/" + encodeURIComponent(id));
    if (action === "mute") return act("POST", base + (button.dataset.on === "1" ? "/unmute" : "/mute"));
    if (action === "deaf") return act("POST", base + (button.dataset.on === "1" ? "/undeaf" : "/deaf"));
    if (action === "floor") return act("POST", roomPath("/floor"), { target: id });
    if (action === "pin") {
      const region = Number($('[data-field="region"]', row).value || 0);
      return act("POST", roomPath("/pin"), { region: region, target: id });
    }
    if (action === "remove" && confirm(t("confirm_remove"))) return act("POST", base + "/remove", { reason: "console" });
    return null;
  }

  async function takeSnapshot() {
    const id = $("#snapshot-member").value;
    if (!id) return;
    const response = await fetch(roomPath("/members/" + encodeURIComponent(id) + "/snapshot"),
      { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) {
      let message = String(response.status);
      try { message = (await response.json()).error; } catch (e) { /* not JSON */ }
      toast(message, true);
      return;
    }
    const img = $("#snapshot-img");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await response.blob());
    img.dataset.member = id;
    img.hidden = false;
  }

  function wire() {
    $$("[data-lang]").forEach((el) => el.addEventListener("click", () => {
      lang = el.dataset.lang;
      localStorage.setItem("mcu.lang", lang);
      applyLanguage();
    }));
    $("#login-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = $("#login-token").value.trim();
      const operator = $("#login-operator").value.trim();
      const response = await fetch("/console/login", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: token, operator: operator }),
      });
      let doc = null;
      try { doc = await response.json(); } catch (e) { doc = null; }
      if (!response.ok) {
        showLogin(response.status === 401 ? t("wrong_token") : ((doc && doc.error) || String(response.status)));
        return;
      }
      $("#login-token").value = "";
      csrf = doc.result.csrf;
      loggedIn = true;
      if (!location.hash) location.hash = "#/rooms";
      route();
    });
    $("#logout").addEventListener("click", async () => {
      try { await api("POST", "/console/logout"); } catch (e) { /* logged out anyway */ }
      showLogin("");
    });
    $("#room-actions").addEventListener("change", (event) => {
      if (event.target.id === "mode-select") act("POST", roomPath("/mode"), { mode: event.target.value });
    });
    document.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button && button.dataset.roomAction && currentRoom) roomActions[button.dataset.roomAction]();
      else if (button && button.closest("#members-table")) memberAction(button);
      else if (button && button.dataset.action === "dial-site") {
        act("POST", roomPath("/dial"), { target: button.closest("tr").dataset.site });
      }
      const figure = event.target.closest("#layouts figure");
      if (figure && currentRoom) act("POST", roomPath("/layout"), { layout: figure.dataset.layout });
    });
    $("#dial-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { target: $("#dial-target").value.trim() };
      const name = $("#dial-name").value.trim();
      if (name) body.name = name;
      act("POST", roomPath("/dial"), body);
    });
    $("#stream-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act("POST", roomPath("/stream/start"), { stream_url: $("#stream-url").value.trim() });
    });
    $("#snapshot-take").addEventListener("click", takeSnapshot);
    $("#content-grant").addEventListener("click", () => {
      const id = Number($("#content-member").value);
      if (id) act("POST", roomPath("/content/grant"), { member: id });
    });
    $("#slides-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act("POST", roomPath("/content/start"), { file: $("#slides-file").value.trim() });
    });
    window.addEventListener("hashchange", route);
    setInterval(setClock, 1000);
  }

  async function start() {
    wire();
    applyLanguage();
    const response = await fetch("/console/session", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) {
      showLogin("");
      return;
    }
    const doc = await response.json();
    csrf = doc.result.csrf;
    loggedIn = true;
    if (!location.hash) location.hash = "#/rooms";
    route();
  }

  start();
})();
