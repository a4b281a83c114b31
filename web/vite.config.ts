import { defineConfig } from "vite";

// The app is served by the gateway from its own origin (gateway/web_app.py); `npm run dev`
// proxies the API to a gateway started by `make run` (LIVEFOLD_GATEWAY_URL to choose another).
const gateway = process.env.LIVEFOLD_GATEWAY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  // The SDK imports `ws` only where no WebSocket exists (Node); browsers never load it.
  // The manifest tells scripts/budget.mjs what a first visit loads and what loads later.
  build: { target: "es2022", manifest: true, chunkSizeWarningLimit: 120, rolldownOptions: { external: ["ws"] } },
  server: {
    proxy: {
      "/api": gateway,
      "/oauth": gateway,
      "/.well-known": gateway,
      "/ws": { target: gateway.replace(/^http/, "ws"), ws: true },
    },
  },
});
