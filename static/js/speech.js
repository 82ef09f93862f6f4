// Voice in the interview room: speak the interviewer's turns, and answer by
// microphone with live transcription. Works wherever getUserMedia and
// AudioWorklet exist (current Chrome, Firefox and Safari, desktop and mobile).
(() => {
  const room = document.getElementById("room");
  if (!room) return;
  const endSilence = parseFloat(room.dataset.endSilence || "2.5") * 1000;
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

  function unfinished(text) {
    return /(\b(and|but|so|because|or|then|um+|uh+|like|the|a|an|to|of|with|which|that)|,)\s*$/i.test(text.trim());
  }

  class VoiceAnswer {
    constructor(form) {
      this.form = form;
      this.textarea = form.querySelector("textarea[name=answer]");
      this.state = form.querySelector(".mic-state");
      this.meter = form.querySelector(".level > span");
      this.startBtn = form.querySelector("[data-mic=start]");
      this.doneBtn = form.querySelector("[data-mic=done]");
      this.committed = this.textarea.value ? this.textarea.value.trim() + " " : "";
      this.speaking = 0;
      this.timer = null;
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
        else this.closedByServer(e.code);
        this.release();
      };
      this.startBtn.hidden = true;
      this.doneBtn.hidden = false;
      this.setState("Connecting…");
    }

    handle(msg) {
      switch (msg.event) {
        case "ready": this.ready = true; this.setState("Listening — take your time."); break;
        case "speech_started": this.cancelTimers(); this.setState("Listening…"); break;
        case "partial": this.cancelTimers(); this.textarea.value = this.committed + msg.text; break;
        case "final":
          this.committed += msg.text.trim() + " ";
          this.textarea.value = this.committed.trim();
          if (msg.words && msg.words.length) this.speaking += msg.words[msg.words.length - 1][2] - msg.words[0][1];
          this.armTimer();
          break;
        case "utterance_end": this.armTimer(); break;
        case "error": this.setState(msg.message); break;
        case "closed": if (this.closedResolve) this.closedResolve(); break;
      }
    }

    // The server ended the stream (idle, time limit, another tab, logout):
    // keep what was heard in the answer box, unsent, for the candidate to
    // finish by typing or with 🎤 again.
    closedByServer(code) {
      this.cancelTimers();
      if (CLOSE_HINTS[code]) this.setState(CLOSE_HINTS[code]);
      if (!this.committed.trim()) return;
      this.textarea.value = this.committed.trim();
      this.form.querySelector("[name=source]").value = "live_voice";
      if (this.speaking > 0) this.form.querySelector("[name=speaking_seconds]").value = this.speaking.toFixed(2);
    }

    armTimer() {
      this.cancelTimers();
      if (!this.committed.trim()) return;
      const wait = unfinished(this.committed) ? endSilence * 2 : endSilence;
      this.timer = setTimeout(() => this.stop({ countdown: 3 }), wait);
    }

    cancelTimers() {
      clearTimeout(this.timer);
      this.timer = null;
    }

    async stop({ countdown = 0 } = {}) {
      this.cancelTimers();
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        const closed = new Promise((resolve) => { this.closedResolve = resolve; });
        this.socket.send(JSON.stringify({ type: "finish" }));
        await Promise.race([closed, new Promise((r) => setTimeout(r, 2500))]);
        this.socket.close();
      }
      this.release();
      this.textarea.value = this.committed.trim() || this.textarea.value;
      this.form.querySelector("[name=source]").value = "live_voice";
      if (this.speaking > 0) this.form.querySelector("[name=speaking_seconds]").value = this.speaking.toFixed(2);
      if (!this.textarea.value.trim()) { this.setState("Nothing was heard. Try again or type your answer."); return; }
      this.sendAfter(countdown);
    }

    sendAfter(seconds) {
      if (seconds <= 0) { this.form.requestSubmit(); return; }
      let left = seconds;
      this.setState(`Sending in ${left}s — click the text to edit first.`);
      const cancel = () => { clearInterval(this.countdown); this.setState("Edit your answer, then press Send."); };
      this.textarea.addEventListener("focus", cancel, { once: true });
      this.countdown = setInterval(() => {
        left -= 1;
        if (left <= 0) { clearInterval(this.countdown); this.textarea.removeEventListener("focus", cancel); this.form.requestSubmit(); }
        else this.setState(`Sending in ${left}s — click the text to edit first.`);
      }, 1000);
    }

    release() {
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
    form.querySelector("[data-mic=done]").addEventListener("click", () => session && session.stop({ countdown: 0 }));
  }

  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && session && session.stream && !["TEXTAREA", "INPUT", "BUTTON"].includes(e.target.tagName)) {
      e.preventDefault();
      session.stop({ countdown: 0 });
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
