// The interview room: one WebSocket per tab streams the interviewer's turns
// and the coach's feedback; answers go out as HTMX posts. The socket
// reconnects by itself and resyncs the page, so a server restart or a dropped
// connection costs nothing.
(() => {
  const room = document.getElementById("room");
  if (!room) return;
  const conversation = document.getElementById("conversation");
  const streamingSlot = document.getElementById("streaming-slot");
  const connection = document.getElementById("connection");
  let socket = null;
  let retryDelay = 500;
  let streaming = null;

  // The answer area says how many turns it was rendered after; an older one
  // (an HTTP reply overtaken by the socket) must not replace a newer one.
  function isStale(fresh, old) {
    return fresh && old && fresh.dataset.turns && old.dataset.turns &&
      parseInt(fresh.dataset.turns, 10) < parseInt(old.dataset.turns, 10);
  }

  function replace(id, html) {
    const old = document.getElementById(id);
    if (!old || html === undefined) return;
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const fresh = holder.firstElementChild;
    if (isStale(fresh, old)) return;
    // Keep a draft the candidate is typing if the answer form is re-rendered.
    const draft = old.querySelector("textarea");
    old.replaceWith(fresh);
    const textarea = fresh.querySelector("textarea");
    if (draft && textarea && !textarea.value) textarea.value = draft.value;
    if (window.htmx) htmx.process(fresh);
  }

  function upsertTurn(index, html) {
    if (html === undefined) return;
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const old = document.getElementById("turn-" + index);
    const fresh = holder.firstElementChild;
    // A question withdrawn by "Try this question again" gives way to the re-ask.
    if (old && fresh && fresh.dataset.turnId && old.dataset.turnId && fresh.dataset.turnId !== old.dataset.turnId) {
      old.replaceWith(fresh);
      return;
    }
    if (old) return;
    Array.from(holder.children).forEach((el) => conversation.appendChild(el));
  }

  function dedupeTurns() {
    const seen = new Set();
    conversation.querySelectorAll("[id^=turn-], [id^=feedback-]").forEach((el) => {
      if (seen.has(el.id)) el.remove();
      else seen.add(el.id);
    });
  }

  function clearStreaming() {
    streamingSlot.innerHTML = "";
    streaming = null;
  }

  function handle(msg) {
    switch (msg.event) {
      case "sync":
        (msg.turns || []).forEach((t) => upsertTurn(t.index, t.html));
        replace("progress", msg.progress);
        replace("answer-area", msg.answer_area);
        break;
      case "turn.started":
        streamingSlot.innerHTML = '<div class="bubble interviewer streaming"><span class="who">Interviewer</span><span class="text"></span></div>';
        streaming = streamingSlot.querySelector(".text");
        break;
      case "turn.token":
        if (!streaming) handle({ event: "turn.started" });
        streaming.textContent += msg.text;
        break;
      case "turn.done":
        clearStreaming();
        upsertTurn(msg.turn_index, msg.turn);
        replace("progress", msg.progress);
        replace("answer-area", msg.answer_area);
        room.dispatchEvent(new CustomEvent("interviewer:turn", { detail: msg }));
        break;
      case "turn.failed":
        clearStreaming();
        replace("answer-area", msg.answer_area);
        break;
      case "turn.replaced":
        upsertTurn(msg.turn_index, msg.turn);
        conversation.querySelectorAll(".try-again").forEach((el) => el.remove());
        replace("progress", msg.progress);
        replace("answer-area", msg.answer_area);
        break;
      case "answer.added":
        // Only the latest answer can be tried again.
        conversation.querySelectorAll(".try-again").forEach((el) => el.remove());
        upsertTurn(msg.turn_index, msg.turn);
        replace("progress", msg.progress);
        replace("answer-area", msg.answer_area);
        break;
      case "feedback.ready": {
        const slot = document.getElementById("feedback-" + msg.turn_index);
        if (slot) slot.innerHTML = msg.html;
        if (slot && window.htmx) htmx.process(slot); // its "Try this question again" form posts through htmx
        break;
      }
      case "speech.sentence":
        room.dispatchEvent(new CustomEvent("interviewer:speech", { detail: msg }));
        break;
      case "interview.completed":
        connection.innerHTML = 'Interview complete. <a href="' + msg.report_url + '">See your report</a> — it is being prepared.';
        break;
      case "error":
        connection.textContent = msg.message;
        break;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + room.dataset.socketPath);
    socket.onopen = () => {
      retryDelay = 500;
      connection.textContent = "";
    };
    socket.onmessage = (e) => handle(JSON.parse(e.data));
    socket.onclose = (e) => {
      const ended = {
        4401: "You were signed out. Sign in again to carry on.",
        4404: "You no longer have access to this interview. Reload the page.",
        4410: "This interview was deleted.",
      }[e.code];
      if (ended) {
        clearStreaming();
        connection.textContent = ended;
        return;
      }
      clearStreaming();
      connection.textContent = "Connection lost — reconnecting…";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  document.body.addEventListener("htmx:afterSettle", dedupeTurns);
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const old = document.getElementById("answer-area");
    if (e.detail.target !== old || !e.detail.serverResponse) return;
    const holder = document.createElement("div");
    holder.innerHTML = e.detail.serverResponse;
    if (isStale(holder.querySelector("#answer-area"), old)) e.detail.shouldSwap = false;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.id === "answer") {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });
  const clock = () => {
    const el = document.querySelector("[data-seconds-left]");
    if (el && document.getElementById("answer-form")) {
      const left = Math.max(0, parseInt(el.dataset.secondsLeft, 10) - 1);
      el.dataset.secondsLeft = left;
      el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    }
  };
  setInterval(clock, 1000);
  connect();
})();
