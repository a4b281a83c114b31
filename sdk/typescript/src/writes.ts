// Writes over a subscription's socket (Subscription.send): the gateway's `send` frame, and the
// writes still waiting for their answer, by frame id. The frame id is the write's
// Idempotency-Key: a write whose connection dropped before its answer is sent again, with the
// same id, once the subscription is back, and makes the same event.

import type { Accepted } from "./client.js";
import { ApiError, apiError } from "./errors.js";

/** What the gateway takes over the socket (the interactive hot path); other writes are REST. */
export const SOCKET_WRITES = ["chat.send", "reactions.send", "polls.vote", "quizzes.answer"] as const;
export type SocketWrite = (typeof SOCKET_WRITES)[number];

export interface SendOptions {
  /** The write's idempotency key (default: one per call); the same ref makes the same event. */
  ref?: string;
  /** Reject with a TimeoutError after this long without an answer (default 30 s). */
  timeoutMs?: number;
}

export function writeFrame(ref: string, write: string, streamId: string, body: Record<string, unknown>): Record<string, unknown> {
  return { op: "send", id: ref, write, stream: streamId, body };
}

/** An `ack` as Accepted, a write's `error` as the ApiError REST would throw; else null. */
export function answerOf(doc: Record<string, unknown>): Accepted | ApiError | null {
  if (doc.type === "ack") {
    const { type: _type, id: _id, ...accepted } = doc;
    return accepted as unknown as Accepted;
  }
  if (doc.type === "error" && doc.op === "send") {
    const retryAfterMs = typeof doc.retry_after === "number" ? doc.retry_after * 1000 : null;
    return apiError(typeof doc.status === "number" ? doc.status : 400, doc, retryAfterMs);
  }
  return null;
}

interface Waiting {
  frame: Record<string, unknown>;
  resolve: (accepted: Accepted) => void;
  reject: (error: Error) => void;
}

export class PendingWrites {
  private readonly waiting = new Map<string, Waiting>();

  /** Wait for the answer to `frame` (its `id` must not be waiting already). */
  add(frame: Record<string, unknown>, timeoutMs: number): Promise<Accepted> {
    const ref = String(frame.id);
    if (this.waiting.has(ref)) return Promise.reject(new Error(`a write with id ${ref} is already waiting for its answer`));
    return new Promise<Accepted>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(ref);
        const error = new Error(`no answer to write ${ref} within ${timeoutMs} ms`);
        error.name = "TimeoutError";
        reject(error);
      }, timeoutMs);
      const settle = () => (clearTimeout(timer), this.waiting.delete(ref));
      this.waiting.set(ref, {
        frame,
        resolve: (accepted) => (settle(), resolve(accepted)),
        reject: (error) => (settle(), reject(error)),
      });
    });
  }

  /** The writes not answered yet, to send again on a new connection. */
  frames(): Record<string, unknown>[] {
    return [...this.waiting.values()].map((waiting) => waiting.frame);
  }

  /** Settle the write a frame answers; true if the frame was a write's answer. */
  take(doc: Record<string, unknown>): boolean {
    const answer = answerOf(doc);
    if (answer === null) return false;
    const waiting = this.waiting.get(String(doc.id));
    if (waiting !== undefined) {
      if (answer instanceof ApiError) waiting.reject(answer);
      else waiting.resolve(answer);
    }
    return true;
  }

  fail(error: Error): void {
    for (const waiting of [...this.waiting.values()]) waiting.reject(error);
  }
}
