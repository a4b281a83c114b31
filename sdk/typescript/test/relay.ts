// A TCP relay in front of the gateway, where a load balancer would stand: `cut()` drops every
// connection through it and refuses new ones until `heal()`; `freeze()` stops moving the bytes
// of the open ones while keeping them open (a dead link); `loseNextAnswer()` drops the
// connection that carries the gateway's next bytes, before they reach the client.

import { type Server, type Socket, createConnection, createServer } from "node:net";

export class TcpRelay {
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  private pairs: [Socket, Socket][] = [];
  private accepting = true;
  private losing = false;
  answersLost = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async start(): Promise<string> {
    this.server = createServer((client) => {
      if (!this.accepting) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: this.host, port: this.port });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      this.pairs.push([client, upstream]);
      client.pipe(upstream).on("error", () => client.destroy());
      upstream.on("data", (chunk: Buffer) => {
        if (!this.losing) return void client.write(chunk);
        this.losing = false;
        this.answersLost += 1;
        client.destroy(); // the answer dies with the connection
        upstream.destroy();
      });
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the relay has no port");
    return `http://127.0.0.1:${address.port}`;
  }

  cut(): void {
    this.accepting = false;
    for (const socket of this.sockets) socket.destroy();
  }

  freeze(): void {
    for (const [client, upstream] of this.pairs.splice(0)) {
      client.unpipe(upstream);
      client.pause();
      upstream.pause();
    }
  }

  loseNextAnswer(): void {
    this.losing = true;
  }

  heal(): void {
    this.accepting = true;
  }

  close(): Promise<void> {
    this.cut();
    const server = this.server;
    return new Promise((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  }
}
