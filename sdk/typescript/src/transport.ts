// One REST call to the gateway, with what every call needs: the bearer token (refreshed once on
// a 401 when the auth can refresh), an Idempotency-Key on writes (made once per call and sent
// again on every retry, so a retried write never makes a second event), retries of what is safe
// to retry (reads, and writes thanks to their key) after network errors, 429 and 5xx, honouring
// Retry-After, and the gateway's error body turned into an ApiError.

import type { Auth } from "./auth.js";
import { ApiError, TransportError, apiError } from "./errors.js";

export const API = "/api/v1";
const RETRIABLE = new Set([429, 502, 503, 504]);

export interface RetryPolicy {
  attempts: number;
  /** Milliseconds before the second attempt, doubling after. */
  backoffMs: number;
  maxWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, backoffMs: 200, maxWaitMs: 5000 };

export interface Call {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Under /api/v1. */
  path: string;
  body?: Record<string, unknown>;
  query?: Record<string, string | number | undefined>;
  /** An event write: gets an Idempotency-Key and may be retried. */
  write?: boolean;
  idempotencyKey?: string;
  /** A write: `Prefer: wait=<seconds>`, answered with its outcome. */
  wait?: number;
}

/** A path parameter, escaped (ids and terms may hold '/', spaces...). */
export function segment(value: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`a path parameter must be a non-empty string, not ${JSON.stringify(value)}`);
  }
  return encodeURIComponent(value);
}

/** A body without the fields left undefined (the gateway's default applies). */
export function fields(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function retryAfterMs(response: Response): number | null {
  const seconds = Number(response.headers.get("retry-after"));
  return response.headers.has("retry-after") && Number.isFinite(seconds) ? seconds * 1000 : null;
}

async function outcome(response: Response): Promise<unknown> {
  if (response.status === 204) return null;
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if (response.status >= 400) throw apiError(response.status, body, retryAfterMs(response));
  return body;
}

async function tokenOf(auth: Auth, forceRefresh: boolean): Promise<string | undefined> {
  if (auth === undefined || typeof auth === "string") return auth;
  return auth.accessToken(forceRefresh);
}

export async function send(baseUrl: string, auth: Auth, call: Call, policy: RetryPolicy): Promise<unknown> {
  const key = call.write ? (call.idempotencyKey ?? crypto.randomUUID()) : undefined;
  const url = new URL(baseUrl.replace(/\/+$/, "") + API + call.path);
  for (const [name, value] of Object.entries(call.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  const retrySafe = call.method === "GET" || call.write === true;
  const refreshable = auth !== undefined && typeof auth !== "string" && auth.refreshable;
  let attempt = 0;
  let refresh = false;
  let refreshed = false;
  for (;;) {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = await tokenOf(auth, refresh);
    refresh = false;
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    if (key !== undefined) headers["Idempotency-Key"] = key;
    if (call.write && call.wait !== undefined) headers.Prefer = `wait=${Math.max(0, Math.round(call.wait))}`;
    const init: RequestInit = { method: call.method, headers };
    if (call.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(call.body);
    }
    let problem: unknown;
    try {
      return await outcome(await fetch(url, init));
    } catch (error) {
      problem = error;
    }
    attempt += 1;
    if (problem instanceof ApiError && problem.status === 401 && refreshable && !refreshed) {
      refresh = refreshed = true; // a fresh token once; not counted as a retry
      attempt -= 1;
      continue;
    }
    const network = !(problem instanceof ApiError);
    const retriable = network || RETRIABLE.has((problem as ApiError).status);
    if (!retrySafe || !retriable || attempt >= policy.attempts) {
      if (network) {
        throw new TransportError(`${call.method} ${call.path}: ${String(problem)} (after ${attempt} attempts)`);
      }
      throw problem;
    }
    let wait = policy.backoffMs * 2 ** (attempt - 1);
    if (problem instanceof ApiError && problem.retryAfterMs !== null) wait = Math.max(wait, problem.retryAfterMs);
    await sleep(Math.min(wait, policy.maxWaitMs));
  }
}
