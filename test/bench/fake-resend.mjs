// A local stand-in for Resend's HTTP API on 127.0.0.1 (the outside world in benchmarks): accepts
// POST /emails and POST /emails/batch like Resend does and answers with message ids. Counts calls.
import http from "node:http";

export async function startFakeResend() {
  const stats = { calls: 0, emails: 0 };
  let next = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      stats.calls++;
      const parsed = body ? JSON.parse(body) : {};
      res.setHeader("content-type", "application/json");
      if (req.url === "/emails/batch") {
        stats.emails += parsed.length;
        res.end(JSON.stringify({ data: parsed.map(() => ({ id: `fake_${next++}` })) }));
      } else if (req.url === "/emails") {
        stats.emails++;
        res.end(JSON.stringify({ id: `fake_${next++}` }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ name: "not_found", message: "no such endpoint", statusCode: 404 }));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, stats, close: () => new Promise((r) => server.close(r)) };
}
