// A browser publishes over WHIP and another page plays over WHEP: Debian's chromium with its fake
// camera and microphone, driven by playwright-core, against a live media service. Plain
// RTCPeerConnection and fetch, as any WHIP/WHEP page would do it (no livefold code).
// tests/test_media_browser.py runs it.
//
// Environment: MEDIA_URL, STREAM_ID, STREAM_KEY, CHROMIUM. Prints one JSON line: what the
// playing page saw.

import { chromium } from "playwright-core";

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const media = need("MEDIA_URL");
const streamId = need("STREAM_ID");
const streamKey = need("STREAM_KEY");

// Offer once ICE gathering is complete (no trickle), post it, apply the answer.
async function negotiate(pc, url, headers) {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const answer = await fetch(url, {
    method: "POST", body: pc.localDescription.sdp, headers: { "Content-Type": "application/sdp", ...headers },
  });
  if (answer.status !== 201) throw new Error(`${url}: ${answer.status} ${await answer.text()}`);
  await pc.setRemoteDescription({ type: "answer", sdp: await answer.text() });
  return answer.headers.get("Location");
}

const publish = async ({ url, key, negotiateSource }) => {
  const negotiate = eval(`(${negotiateSource})`);
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  window.publisher = pc;
  return negotiate(pc, url, { Authorization: `Bearer ${key}` });
};

const play = async ({ url, negotiateSource }) => {
  const negotiate = eval(`(${negotiateSource})`);
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.append(video);
  const stream = new MediaStream();
  pc.addEventListener("track", (event) => {
    stream.addTrack(event.track);
    video.srcObject = stream;
  });
  window.viewer = { pc, video };
  return negotiate(pc, url, {});
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "chromium",
  args: [
    "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
  ],
});
try {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  const publisher = await context.newPage();
  const viewer = await context.newPage();
  // A page of the media service's own origin: loopback is a secure context, so getUserMedia works.
  for (const page of [publisher, viewer]) await page.goto(`${media}/health/live`);
  const negotiateSource = negotiate.toString();
  const published = await publisher.evaluate(publish, { url: `${media}/whip/${streamId}`, key: streamKey, negotiateSource });
  const watched = await viewer.evaluate(play, { url: `${media}/whep/${streamId}`, negotiateSource });
  const states = async () => ({
    publisher: await publisher.evaluate(async () => ({
      state: window.publisher.connectionState, ice: window.publisher.iceConnectionState,
      sent: [...(await window.publisher.getStats()).values()].filter((s) => s.type === "outbound-rtp").map((s) => [s.kind, s.packetsSent, s.framesEncoded]),
      pairs: [...(await window.publisher.getStats()).values()].filter((s) => s.type === "candidate-pair").map((s) => s.state),
    })),
    viewer: await viewer.evaluate(async () => ({
      state: window.viewer.pc.connectionState, ice: window.viewer.pc.iceConnectionState,
      received: [...(await window.viewer.pc.getStats()).values()].filter((s) => s.type === "inbound-rtp").map((s) => [s.kind, s.packetsReceived, s.framesDecoded]),
      currentTime: window.viewer.video.currentTime, videoWidth: window.viewer.video.videoWidth,
    })),
  });
  try {
    const first = await viewer.waitForFunction(() => window.viewer.video.currentTime > 0 && window.viewer.video.videoWidth > 0, null, { timeout: 60_000 });
    await first.dispose();
  } catch (error) {
    throw new Error(`the viewer never played: ${JSON.stringify(await states())}`);
  }
  const start = await viewer.evaluate(() => window.viewer.video.currentTime);
  await viewer.waitForFunction((from) => window.viewer.video.currentTime > from + 2, start, { timeout: 30_000 });
  const seen = await viewer.evaluate(async () => {
    const { pc, video } = window.viewer;
    const inbound = [...(await pc.getStats()).values()].filter((s) => s.type === "inbound-rtp");
    return {
      currentTime: video.currentTime, videoWidth: video.videoWidth, videoHeight: video.videoHeight,
      framesDecoded: inbound.find((s) => s.kind === "video")?.framesDecoded ?? 0,
      audioPackets: inbound.find((s) => s.kind === "audio")?.packetsReceived ?? 0,
      codec: [...(await pc.getStats()).values()].find((s) => s.type === "codec" && s.mimeType.startsWith("video/"))?.mimeType,
    };
  });
  const stopped = await publisher.evaluate(async ({ url, key }) => {
    const status = (await fetch(url, { method: "DELETE", headers: { Authorization: `Bearer ${key}` } })).status;
    window.publisher.close();
    return status;
  }, { url: `${media}${published}`, key: streamKey });
  console.log(JSON.stringify({ published, watched, start, stopped, ...seen }));
} finally {
  await browser.close();
}
