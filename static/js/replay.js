// "Replay" on an interviewer turn: plays that turn's spoken sentences again,
// in order. The server renders the button, with the sentences' audio URLs
// (data-replay), only on turns whose audio exists, so it works after a reload
// too. One replay at a time; clicking the playing one stops it, and the
// interviewer's live voice (a new turn being spoken) stops it as well.
(() => {
  const room = document.getElementById("room");
  if (!room) return;
  const player = new Audio();
  player.preload = "auto";
  let current = null; // { button, urls, next }

  function setPlaying(button, playing) {
    button.toggleAttribute("data-playing", playing);
    const label = button.querySelector(".replay-label");
    if (label) label.textContent = playing ? "Stop" : "Replay";
  }

  function stop() {
    if (!current) return;
    player.pause();
    setPlaying(current.button, false);
    current = null;
  }

  function playNext() {
    if (!current) return;
    if (current.next >= current.urls.length) { stop(); return; }
    player.src = current.urls[current.next];
    current.next += 1;
    player.play().catch(() => {
      // Not playable here (blocked or gone): say so on the button rather than hang.
      const button = current && current.button;
      stop();
      if (button) button.title = "This audio could not be played.";
    });
  }

  player.addEventListener("ended", playNext);
  player.addEventListener("error", playNext); // a sentence that fails to load is skipped

  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("button.replay[data-replay]");
    if (!button || !room.contains(button)) return;
    const wasThis = current && current.button === button;
    stop();
    if (wasThis) return;
    const urls = button.dataset.replay.split(/\s+/).filter(Boolean);
    if (!urls.length) return;
    // Anything else speaking (the live voice) should stop for the replay.
    room.dispatchEvent(new CustomEvent("interviewer:replay", { detail: { urls } }));
    current = { button, urls, next: 0 };
    setPlaying(button, true);
    playNext();
  });

  room.addEventListener("interviewer:speech", stop);
})();
