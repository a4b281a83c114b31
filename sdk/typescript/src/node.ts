// Node-only parts: a loopback receiver for the authorization response (RFC 8252: livefold's
// authorization server accepts http://127.0.0.1:<any port>/callback for its public client)
// and `signIn`, the whole sign-in of a CLI or desktop app.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { DEFAULT_SCOPE, type OAuthClient, Session } from "./auth.js";
import { OAuthError } from "./errors.js";
import { createPkce, randomToken } from "./pkce.js";

export interface AuthorizationResponse {
  code: string | null;
  state: string | null;
  error: string | null;
  errorDescription: string | null;
}

const PAGE = "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>livefold</title></head>" +
  "<body><p>Signed in. You can close this window.</p></body></html>";

export class LoopbackReceiver {
  private answer: AuthorizationResponse | null = null;
  private arrived: ((answer: AuthorizationResponse) => void) | null = null;

  private constructor(
    private readonly server: Server,
    readonly redirectUri: string,
  ) {}

  static async start(host = "127.0.0.1", path = "/callback"): Promise<LoopbackReceiver> {
    let receiver: LoopbackReceiver | null = null;
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? "/", "http://loopback");
      if (url.pathname !== path || receiver === null) {
        response.writeHead(404).end();
        return;
      }
      receiver.take({
        code: url.searchParams.get("code"),
        state: url.searchParams.get("state"),
        error: url.searchParams.get("error"),
        errorDescription: url.searchParams.get("error_description"),
      });
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(PAGE);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const shown = host.includes(":") ? `[${host}]` : host;
    receiver = new LoopbackReceiver(server, `http://${shown}:${port}${path}`);
    return receiver;
  }

  private take(answer: AuthorizationResponse): void {
    if (this.answer !== null) return;
    this.answer = answer;
    this.arrived?.(answer);
  }

  /** The first response that reached the redirect URI, within `timeoutMs`. */
  wait(timeoutMs: number): Promise<AuthorizationResponse> {
    if (this.answer !== null) return Promise.resolve(this.answer);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new OAuthError(0, "timeout", `nobody signed in within ${timeoutMs} ms`)), timeoutMs);
      this.arrived = (answer) => (clearTimeout(timer), resolve(answer));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Sign in as a native app does: a loopback receiver on a free port, the browser sent to the
 * authorization URL (`openBrowser`), the code exchanged with the PKCE verifier.
 */
export async function signIn(
  oauth: OAuthClient,
  openBrowser: (url: string) => unknown,
  options: { scope?: string; timeoutMs?: number; host?: string } = {},
): Promise<Session> {
  const pkce = await createPkce();
  const state = randomToken();
  const receiver = await LoopbackReceiver.start(options.host);
  let answer: AuthorizationResponse;
  try {
    const url = oauth.authorizationUrl({ redirectUri: receiver.redirectUri, pkce, state, scope: options.scope ?? DEFAULT_SCOPE });
    const waiting = receiver.wait(options.timeoutMs ?? 300_000);
    await openBrowser(url);
    answer = await waiting;
  } finally {
    await receiver.close();
  }
  if (answer.error !== null) throw new OAuthError(400, answer.error, answer.errorDescription ?? "");
  if (answer.state !== state) throw new OAuthError(400, "invalid_state", "the redirect's state is not the one sent");
  if (answer.code === null) throw new OAuthError(400, "invalid_response", "the redirect carries no code");
  return new Session(oauth, await oauth.exchangeCode(answer.code, pkce.verifier, receiver.redirectUri));
}
