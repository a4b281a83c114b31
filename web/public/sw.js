// The offline shell: pages are fetched fresh when online and fall back to the cached app shell
// (index.html) offline; built assets (content-hashed names) come from the cache once seen. The API,
// the socket and sign-in are never cached: live data is live or absent.
const SHELL = "livefold-shell-v1";
const SHELL_FILES = ["/", "/manifest.webmanifest", "/icon.svg"];
const LIVE_ONLY = ["/api/", "/ws", "/oauth/", "/.well-known/", "/auth/"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name !== SHELL).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== location.origin || LIVE_ONLY.some((path) => url.pathname.startsWith(path))) return;
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request)
        .then((page) => {
          const copy = page.clone();
          if (page.ok) void caches.open(SHELL).then((cache) => cache.put("/", copy));
          return page;
        })
        .catch(() => caches.match("/").then((shell) => shell ?? Response.error())),
    );
    return;
  }
  event.respondWith(
    caches.match(request).then(
      (cached) =>
        cached ??
        fetch(request).then((answer) => {
          const copy = answer.clone();
          if (answer.ok && url.pathname.startsWith("/assets/")) void caches.open(SHELL).then((cache) => cache.put(request, copy));
          return answer;
        }),
    ),
  );
});

// Web Push (docs/notifications.md): the message is the notification object as JSON; shown even
// when no page of the app is open. A tap opens (or focuses) the stream's page.
const TITLES = {
  stream_live: (p) => `${p.title || "A stream you follow"} is live`,
  stream_starting_soon: (p) => `Starting soon: ${p.title || "a stream you follow"}`,
  chat_reply: () => "Someone replied to your message",
  tip_received: (p) => `You got a tip${p.amount_minor ? ` of ${(Number(p.amount_minor) / 100).toFixed(2)} ${p.currency || ""}` : ""}`,
};

self.addEventListener("push", (event) => {
  let note = {};
  try {
    note = event.data ? event.data.json() : {};
  } catch {
    note = {};
  }
  const title = (TITLES[note.kind] || (() => "livefold"))(note.payload || {});
  const url = note.stream_id ? `/watch/${encodeURIComponent(note.stream_id)}` : "/";
  event.waitUntil(self.registration.showNotification(title, { body: "livefold", icon: "/icon.svg", tag: note.notification_id, data: { url } }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).pathname === url);
      return open ? open.focus() : self.clients.openWindow(url);
    }),
  );
});
