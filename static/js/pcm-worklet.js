// AudioWorklet: microphone samples at the context's rate → 16 kHz mono
// 16-bit PCM in ~100 ms frames, plus a level for the meter.
class PcmWorklet extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / 16000;
    this.position = 0; // fractional read position into the incoming stream
    this.frame = new Int16Array(1600);
    this.filled = 0;
    this.levelSum = 0;
    this.levelCount = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    // Average the input samples that fall into each 16 kHz output sample
    // (a simple low-pass) instead of picking one, to avoid aliasing.
    let acc = 0, count = 0;
    for (let i = 0; i < channel.length; i++) {
      acc += channel[i];
      count++;
      this.levelSum += channel[i] * channel[i];
      this.levelCount++;
      this.position += 1;
      if (this.position >= this.ratio) {
        this.position -= this.ratio;
        const s = Math.max(-1, Math.min(1, acc / count));
        this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        acc = 0;
        count = 0;
        if (this.filled === this.frame.length) {
          const level = Math.sqrt(this.levelSum / this.levelCount);
          this.port.postMessage({ pcm: this.frame.buffer, level }, [this.frame.buffer]);
          this.frame = new Int16Array(1600);
          this.filled = 0;
          this.levelSum = 0;
          this.levelCount = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("pcm-worklet", PcmWorklet);
