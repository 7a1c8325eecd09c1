// The scrubber a Node.js user would write: buffer the body, JSON.parse, delete personal keys,
// JSON.stringify, forward with a keep-alive agent, relay the vendor's answer.
import http from "node:http";

const [listen, upstream] = process.argv.slice(2);
const [host, port] = listen.split(":");
const target = new URL(upstream);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const DENY = new Set(["email", "phone", "first_name", "last_name", "name", "address", "ip", "userid", "anonymousid"]);

function walk(value) {
  if (Array.isArray(value)) {
    value.forEach(walk);
  } else if (value && typeof value === "object") {
    for (const key of Object.keys(value)) {
      if (DENY.has(key.toLowerCase())) delete value[key];
      else walk(value[key]);
    }
  }
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let batch;
      try {
        batch = JSON.parse(Buffer.concat(chunks));
      } catch {
        res.writeHead(400).end("bad json");
        return;
      }
      walk(batch);
      const body = JSON.stringify(batch);
      const up = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: "POST", agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (upRes) => {
          const parts = [];
          upRes.on("data", (c) => parts.push(c));
          upRes.on("end", () => res.writeHead(upRes.statusCode).end(Buffer.concat(parts)));
        },
      );
      up.on("error", () => res.writeHead(502).end());
      up.end(body);
    });
  })
  .listen(Number(port), host);
