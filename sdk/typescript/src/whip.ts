// Publishing over WHIP (RFC 9725) to livefold's media service from a browser: the SDP offer of
// a send-only RTCPeerConnection, with the streamer's stream key as bearer token, answered with
// the media service's SDP and the session's Location (DELETE it to stop). The media service's
// address comes from `LivefoldClient.mediaEndpoints()`.
//
//   const camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
//   const whip = await WhipPublisher.publish(endpoints.whip.replace("{stream_id}", id), key, camera);
//   ...
//   await whip.stop();

import { apiError } from "./errors.js";
import { iceGathered } from "./whep.js";

export class WhipPublisher {
  private constructor(
    readonly peer: RTCPeerConnection,
    readonly location: string,
    private readonly streamKey: string,
  ) {}

  /** Offer `media`'s tracks to `endpoint` (…/whip/<stream id>); resolves once the media
   * service answered 201. Its refusals (401/403 key, 404 stream, 409 already published or
   * ended, 415 codecs, 503 busy) are thrown as ApiError with the service's reason. */
  static async publish(endpoint: string, streamKey: string, media: MediaStream, iceTimeoutMs = 3000): Promise<WhipPublisher> {
    const peer = new RTCPeerConnection({ iceServers: [] });
    try {
      for (const track of media.getTracks()) peer.addTransceiver(track, { direction: "sendonly", streams: [media] });
      await peer.setLocalDescription(await peer.createOffer());
      await iceGathered(peer, iceTimeoutMs);
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${streamKey}` },
        body: peer.localDescription?.sdp ?? "",
      });
      const text = await response.text();
      if (response.status !== 201) throw apiError(response.status, { error: "whip_refused", reason: text.trim() || `HTTP ${response.status}` });
      await peer.setRemoteDescription({ type: "answer", sdp: text });
      const location = new URL(response.headers.get("location") ?? "", endpoint).toString();
      return new WhipPublisher(peer, location, streamKey);
    } catch (error) {
      peer.close();
      throw error;
    }
  }

  /** Stop publishing: the media service ends the ingest (and the stream, as `streamer_ended`). */
  async stop(): Promise<void> {
    try {
      await fetch(this.location, { method: "DELETE", headers: { Authorization: `Bearer ${this.streamKey}` } });
    } finally {
      this.peer.close();
    }
  }
}
