// What the SDK throws. The gateway refuses with a JSON body {"error", "reason", "fields"} (the
// accounts API says "error_description" for "reason"); ApiError carries all of it.

export class LivefoldError extends Error {
  override name = "LivefoldError";
}

/** One field the gateway refused, and why. */
export interface FieldProblem {
  field: string;
  reason: string;
}

/** The gateway answered with an error status: `error` is its code, `reason` the human words. */
export class ApiError extends LivefoldError {
  override name = "ApiError";

  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly fields: readonly FieldProblem[] = [],
    readonly body: unknown = undefined,
    readonly retryAfterMs: number | null = null,
  ) {
    const details = fields.map((f) => `${f.field}: ${f.reason}`).join("; ");
    super(`${status} ${error}: ${reason}${details ? ` (${details})` : ""}`);
  }

  /** The reason given for one field, if it was at fault. */
  field(name: string): string | undefined {
    return this.fields.find((problem) => problem.field === name)?.reason;
  }
}

export function apiError(status: number, body: unknown, retryAfterMs: number | null = null): ApiError {
  let error = "http_error";
  let reason = `HTTP ${status}`;
  let fields: FieldProblem[] = [];
  if (body !== null && typeof body === "object" && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    error = typeof record.error === "string" ? record.error : error;
    const told = record.reason ?? record.error_description;
    reason = typeof told === "string" ? told : reason;
    if (Array.isArray(record.fields)) {
      fields = record.fields
        .filter((item): item is Record<string, unknown> => item !== null && typeof item === "object")
        .map((item) => ({ field: String(item.field ?? ""), reason: String(item.reason ?? "") }));
    }
  } else if (typeof body === "string" && body.trim()) {
    reason = body.trim().slice(0, 500);
  }
  return new ApiError(status, error, reason, fields, body, retryAfterMs);
}

/** The gateway could not be reached (or stopped answering), even after retries. */
export class TransportError extends LivefoldError {
  override name = "TransportError";
}

/** The authorization server refused: `error` is the OAuth code (invalid_grant, ...). */
export class OAuthError extends LivefoldError {
  override name = "OAuthError";

  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description ? `${status} ${error}: ${description}` : `${status} ${error}`);
  }
}

/**
 * The gateway closed the subscription for good: a bad frame (4400), a token refused after one
 * refresh (4401), or the reconnect attempts ran out.
 */
export class SubscriptionClosed extends LivefoldError {
  override name = "SubscriptionClosed";

  constructor(
    readonly code: number | null,
    readonly reason: string,
  ) {
    super(`subscription closed (${code ?? "no code"}): ${reason}`);
  }
}
