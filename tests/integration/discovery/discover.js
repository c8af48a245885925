// Discovers nats-sidecar instances the way any ADR-32 tool does, with the official nats.js client's
// service client (nc.services.client()): $SRV.PING (all and by name), $SRV.INFO and $SRV.STATS (by
// name, and by name + id for the first instance found). Prints one JSON object on stdout:
//   {"ping_all": [...], "ping": [...], "info": [...], "stats": [...], "stats_by_id": [...]}
//
// usage: node discover.js <nats-url> <service-name>
// NODE_PATH (or a node_modules next to this file) must hold the `nats` package (npm ci of package.json).
"use strict";

const { connect } = require("nats");

async function collect(iterPromise) {
  const out = [];
  for await (const r of await iterPromise) out.push(r);
  return out;
}

async function main() {
  const [server, name] = process.argv.slice(2);
  if (!server || !name) throw new Error("usage: node discover.js <nats-url> <service-name>");
  const nc = await connect({ servers: server, name: "discovery-test" });
  // Wait for every responder (not only the first): a fixed window, as `nats micro ls` does.
  const client = nc.services.client({ maxWait: 1500 });
  const result = {};
  result.ping_all = await collect(client.ping());
  result.ping = await collect(client.ping(name));
  result.info = await collect(client.info(name));
  result.stats = await collect(client.stats(name));
  result.stats_by_id = result.ping.length > 0 ? await collect(client.stats(name, result.ping[0].id)) : [];
  await nc.close();
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err) => {
  process.stderr.write(`discover.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
