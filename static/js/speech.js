// Voice in the interview room: speak the interviewer's turns, and answer by
// microphone with live transcription. Works wherever getUserMedia and
// AudioWorklet exist (current Chrome, Firefox and Safari, desktop and mobile).
(() => {
  const room = document.getElementById("room");
  if (!room) return;
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];

  // ----- the interviewer's voice -----
  const player = new Audio();
  player.preload = "auto";
  const queue = [];
  let playing = false;
  let unlocked = false;
  const speakToggle = document.getElementById("speak-questions");
  const speedSelect = document.getElementById("speech-speed");

  function playNext() {
    if (playing || !queue.length) return;
    if (speakToggle && !speakToggle.checked) { queue.length = 0; return; }
    playing = true;
    const url = queue.shift();
    player.src = url;
    player.play().catch(() => {
      // Blocked until a user gesture: keep the sentence for when it comes.
      playing = false;
      queue.unshift(url);
      unlocked = false;
      showHint("Tap anywhere to hear the interviewer.");
    });
  }
  player.addEventListener("ended", () => { playing = false; playNext(); });
  player.addEventListener("error", () => { playing = false; playNext(); });
  // Mobile browsers only play audio after a user gesture: unlock on the first one.
  // A silent WAV: unlocking must not touch a real sentence (pausing it would
  // stall the queue, since its "ended" would never fire).
  const SILENCE = "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";
  const unlock = () => {
    if (unlocked) return;
    unlocked = true;
    if (playing) return;
    player.muted = true;
    player.src = SILENCE;
    player.play().catch(() => {}).finally(() => { if (!playing) player.pause(); player.muted = false; playNext(); });
  };
  ["click", "touchend", "keydown"].forEach((t) => document.addEventListener(t, unlock, { capture: true }));
  room.addEventListener("interviewer:speech", (e) => { queue.push(e.detail.url); playNext(); });
  room.addEventListener("interviewer:turn-started", () => { /* a new turn: keep queued sentences */ });
  // Replay (replay.js) speaks an earlier turn: one voice at a time.
  room.addEventListener("interviewer:replay", () => { queue.length = 0; player.pause(); playing = false; });

  function saveVoiceSettings() {
    const body = new FormData();
    if (speakToggle.checked) body.append("speak_questions", "on");
    body.append("speech_speed", speedSelect.value);
    fetch(room.dataset.voiceUrl, { method: "POST", body, headers: { "X-CSRFToken": csrf } });
    if (!speakToggle.checked) { queue.length = 0; player.pause(); playing = false; }
  }
  if (speakToggle) speakToggle.addEventListener("change", saveVoiceSettings);
  if (speedSelect) speedSelect.addEventListener("change", saveVoiceSettings);

  function showHint(text) {
    const el = document.getElementById("connection");
    if (el) el.textContent = text;
  }

  // ----- answering by voice -----
  const supported = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.AudioWorkletNode);
  let session = null;

  // Why the server closed the stream, for closes it sends no message for
  // (logout and deletion); its own time limits and a takeover by another tab
  // arrive as an error event just before the close, and stay shown.
  const CLOSE_HINTS = {
    4401: "You were signed out, so the microphone stopped.",
    4410: "This interview is gone, so the microphone stopped.",
  };

  // A spoken answer is sent when the server says the turn is over (the `turn`
  // events of the microphone socket: it hears the audio and the words), when
  // the candidate presses "I'm done" or Space, or with "Send answer" after
  // editing. Until then the microphone stays on and new words join the answer.
  class VoiceAnswer {
    constructor(form) {
      this.form = form;
      this.textarea = form.querySelector("textarea[name=answer]");
      this.state = form.querySelector(".mic-state");
      this.meter = form.querySelector(".level > span");
      this.startBtn = form.querySelector("[data-mic=start]");
      this.doneBtn = form.querySelector("[data-mic=done]");
      this.committed = this.textarea.value ? this.textarea.value.trim() + " " : "";
      this.speaking = 0; // from the words' times, until the server's figure arrives
      this.timing = null; // {speaking_seconds, thinking_seconds} from a `send` or `closed` event
      this.held = false; // the candidate clicked into the text: no auto-send
      this.sending = false;
      this.countdown = null;
    }

    async start() {
      this.setState("Asking for your microphone…");
      try {
        this.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
      } catch (err) {
        this.setState("The microphone is blocked. Allow it in your browser's site settings, or type your answer.");
        return;
      }
      this.context = new AudioContext();
      await this.context.audioWorklet.addModule(room.dataset.workletUrl);
      const source = this.context.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(this.context, "pcm-worklet");
      source.connect(this.node);
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      this.socket = new WebSocket(scheme + location.host + room.dataset.speechPath);
      this.socket.binaryType = "arraybuffer";
      this.ready = false;
      this.node.port.onmessage = (e) => {
        if (this.meter) this.meter.style.width = Math.min(100, e.data.level * 400) + "%";
        if (this.ready && this.socket.readyState === WebSocket.OPEN) this.socket.send(e.data.pcm);
      };
      this.socket.onmessage = (e) => this.handle(JSON.parse(e.data));
      this.socket.onclose = (e) => {
        this.ready = false;
        if (this.closedResolve) this.closedResolve();
        else if (!this.sending) this.closedByServer(e.code);
        this.release();
      };
      this.onFocus = () => this.hold();
      this.textarea.addEventListener("focus", this.onFocus);
      this.startBtn.hidden = true;
      this.doneBtn.hidden = false;
      this.setState("Connecting…");
    }

    handle(msg) {
      switch (msg.event) {
        case "ready": this.ready = true; this.setState("Listening — take your time."); break;
        case "speech_started": this.cancelCountdown(); if (!this.held) this.setState("Listening…"); break;
        case "partial":
          this.cancelCountdown();
          if (!this.held) this.textarea.value = this.committed + msg.text; // never over the candidate's edits
          break;
        case "final": this.addFinal(msg); break;
        case "turn": this.turn(msg); break;
        case "error": this.setState(msg.message); break;
        case "closed":
          this.keepTiming(msg);
          if (this.closedResolve) this.closedResolve();
          break;
      }
    }

    addFinal(msg) {
      // While the candidate edits, new words go after their text, not over it.
      const before = this.held ? this.textarea.value.trim() : this.committed.trim();
      this.committed = (before + " " + msg.text.trim()).trim() + " ";
      this.textarea.value = this.committed.trim();
      if (msg.words && msg.words.length) this.speaking += msg.words[msg.words.length - 1][2] - msg.words[0][1];
    }

    // The server's end-of-turn decisions (see the protocol in interviews/microphone.py).
    turn(msg) {
      if (this.sending) return;
      this.cancelCountdown();
      if (msg.state === "listening") { if (!this.held) this.setState("Listening…"); }
      else if (msg.state === "thinking") { if (!this.held) this.setState("Still listening — take your time."); }
      else if (msg.state === "asking") { if (!this.held) this.ask(msg.send_in_ms); }
      else if (msg.state === "send" && !this.held) { // a send that crossed our hold is ignored
        this.keepTiming(msg);
        this.submit(msg.ended_by);
        this.finish();
      }
    }

    // Shown only: the server sends `send` when the countdown runs out.
    ask(ms) {
      let left = Math.max(1, Math.ceil((ms || 0) / 1000));
      const show = () => this.setState(`Are you done? Sending in ${left}s — keep talking to go on.`);
      show();
      this.countdown = setInterval(() => {
        left -= 1;
        if (left <= 0) { this.cancelCountdown(); this.setState("Sending…"); } else show();
      }, 1000);
    }

    cancelCountdown() {
      clearInterval(this.countdown);
      this.countdown = null;
    }

    keepTiming(msg) {
      if (typeof msg.speaking_seconds === "number") this.timing = { speaking_seconds: msg.speaking_seconds, thinking_seconds: msg.thinking_seconds };
    }

    // Clicking into the text to edit stops the auto-send; the microphone stays on.
    hold() {
      if (this.held || this.sending || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
      this.held = true;
      this.cancelCountdown();
      this.socket.send(JSON.stringify({ type: "hold" }));
      this.setState("Edit your answer, then press Send (the microphone is still on).");
    }

    // "I'm done", Space, or "Send answer" while the microphone is on: the
    // stream's last words and its timing arrive with `closed` (or not, after
    // a short wait), then the answer goes.
    async stop() {
      if (this.sending) return;
      this.sending = true;
      this.cancelCountdown();
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        const closed = new Promise((resolve) => { this.closedResolve = resolve; });
        this.socket.send(JSON.stringify({ type: "finish" }));
        await Promise.race([closed, new Promise((r) => setTimeout(r, 2500))]);
        this.socket.close();
      }
      this.release();
      this.submit("button");
    }

    // Put the answer and how it was given in the form, and send it.
    submit(endedBy) {
      this.sending = true;
      if (!this.held) this.textarea.value = this.committed.trim() || this.textarea.value;
      this.fillVoiceFields(endedBy);
      if (!this.textarea.value.trim()) { this.sending = false; this.setState("Nothing was heard. Try again or type your answer."); return; }
      this.setState("Sending…");
      this.form.requestSubmit();
    }

    fillVoiceFields(endedBy) {
      const field = (name) => this.form.querySelector(`[name=${name}]`);
      field("source").value = "live_voice";
      field("ended_by").value = endedBy || "";
      const speaking = this.timing ? this.timing.speaking_seconds : this.speaking;
      if (speaking > 0) field("speaking_seconds").value = speaking.toFixed(2);
      if (this.timing && typeof this.timing.thinking_seconds === "number") field("thinking_seconds").value = this.timing.thinking_seconds.toFixed(2);
    }

    // The answer is on its way: close the stream without waiting for it.
    finish() {
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ type: "finish" }));
        this.socket.close();
      }
      this.release();
    }

    // The server ended the stream (idle, time limit, another tab, logout):
    // keep what was heard in the answer box, unsent, for the candidate to
    // finish by typing or with 🎤 again.
    closedByServer(code) {
      this.cancelCountdown();
      if (CLOSE_HINTS[code]) this.setState(CLOSE_HINTS[code]);
      if (!this.committed.trim()) return;
      if (!this.held) this.textarea.value = this.committed.trim();
      this.fillVoiceFields("");
    }

    release() {
      if (this.onFocus) this.textarea.removeEventListener("focus", this.onFocus);
      if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
      if (this.context && this.context.state !== "closed") this.context.close();
      this.stream = null;
      this.context = null;
      if (this.meter) this.meter.style.width = "0";
      this.startBtn.hidden = false;
      this.doneBtn.hidden = true;
    }

    setState(text) { if (this.state) this.state.textContent = text; }
  }

  function bind(area) {
    const form = area.querySelector("#answer-form");
    if (!form) return;
    if (supported) area.querySelectorAll(".voice-controls").forEach((el) => { el.hidden = false; });
    form.querySelector("[data-mic=start]").addEventListener("click", () => {
      if (session && session.stream) return; // already listening
      session = new VoiceAnswer(form);
      session.start();
    });
    form.querySelector("[data-mic=done]").addEventListener("click", () => session && session.stop());
    // "Send answer" (or Ctrl+Enter) while the microphone is on: the stream's
    // last words and timing first. Captured on the area, so it runs before
    // htmx's own submit handler on the form.
    area.addEventListener("submit", (e) => {
      if (e.target !== form || !session || session.form !== form || !session.stream || session.sending) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      session.stop();
    }, true);
  }

  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && session && session.stream && !["TEXTAREA", "INPUT", "BUTTON"].includes(e.target.tagName)) {
      e.preventDefault();
      session.stop();
    }
  });

  // Uploaded recordings: the transcript lands in the answer box.
  document.body.addEventListener("htmx:afterSwap", (e) => {
    const ready = document.querySelector("[data-transcript-ready]");
    const form = document.getElementById("answer-form");
    if (ready && form) {
      form.querySelector("textarea[name=answer]").value = ready.dataset.text;
      form.querySelector("[name=speech_task]").value = ready.dataset.task;
      form.querySelector("[name=source]").value = "uploaded_audio";
      form.querySelector("[name=speaking_seconds]").value = ready.dataset.speakingSeconds || "";
      ready.removeAttribute("data-transcript-ready");
    }
  });

  const observer = new MutationObserver(() => {
    const area = document.getElementById("answer-area");
    if (area && !area.dataset.voiceBound) { area.dataset.voiceBound = "1"; bind(area); }
  });
  observer.observe(room, { childList: true, subtree: true });
  const area = document.getElementById("answer-area");
  if (area) { area.dataset.voiceBound = "1"; bind(area); }
})();
