// The till's service worker: the page's own files come from the network when it answers and
// from the last copy otherwise, so the till opens offline. API requests are never touched.
const CACHE = "salesync-till-v1";
const FILES = ["./", "till.js", "till.css", "salesync-client.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) await cache.put(request, response.clone());
      return response;
    } catch (error) {
      const copy = await cache.match(request, { ignoreSearch: true });
      if (copy) return copy;
      throw error;
    }
  })());
});
