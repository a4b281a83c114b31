// Watching over WHEP (the WebRTC-HTTP egress protocol) from livefold's media service in a
// browser: a receive-only RTCPeerConnection's SDP offer, answered with the media service's SDP
// and the session's Location (DELETE it to leave). No account is needed to watch. The address
// comes from the gateway (`LivefoldClient.mediaEndpoints()`, the `whep` template).
//
//   const player = await WhepPlayer.watch(endpoints.whep.replace("{stream_id}", id));
//   video.srcObject = player.media;
//   ...
//   await player.stop();

import { apiError } from "./errors.js";

/** Resolves once the connection has gathered its ICE candidates (the media service takes no
 * trickle ICE), or after `timeoutMs`. */
export function iceGathered(peer: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (peer.iceGatheringState !== "complete") return;
      peer.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    peer.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs);
  });
}

export class WhepPlayer {
  private constructor(
    readonly peer: RTCPeerConnection,
    readonly location: string,
    /** The stream's tracks as they arrive: give it to a <video>'s srcObject. */
    readonly media: MediaStream,
  ) {}

  /** Ask `endpoint` (…/whep/<stream id>) for the stream; resolves once the media service
   * answered 201. Its refusals (404 not live here, 503 full) are thrown as ApiError with the
   * service's reason. */
  static async watch(endpoint: string, iceTimeoutMs = 3000): Promise<WhepPlayer> {
    const peer = new RTCPeerConnection({ iceServers: [] });
    const media = new MediaStream();
    peer.addEventListener("track", (event) => media.addTrack(event.track));
    try {
      peer.addTransceiver("video", { direction: "recvonly" });
      peer.addTransceiver("audio", { direction: "recvonly" });
      await peer.setLocalDescription(await peer.createOffer());
      await iceGathered(peer, iceTimeoutMs);
      const response = await fetch(endpoint, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: peer.localDescription?.sdp ?? "" });
      const text = await response.text();
      if (response.status !== 201) throw apiError(response.status, { error: "whep_refused", reason: text.trim() || `HTTP ${response.status}` });
      await peer.setRemoteDescription({ type: "answer", sdp: text });
      return new WhepPlayer(peer, new URL(response.headers.get("location") ?? "", endpoint).toString(), media);
    } catch (error) {
      peer.close();
      throw error;
    }
  }

  /** Leave: the media service ends the session (the viewer leaves the audience). */
  async stop(): Promise<void> {
    try {
      await fetch(this.location, { method: "DELETE" });
    } catch {
      // gone either way: the media service also ends a session whose connection closed
    } finally {
      this.peer.close();
    }
  }
}
