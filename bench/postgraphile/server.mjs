// PostGraphile 5 over the tables of a seeded Permanence database, for the paired
// benchmark (scripts/bench-compare). Read-only: it connects as a role granted SELECT only.
//
//   POSTGRAPHILE_DATABASE_URL=postgres://… node server.mjs
//
// It listens on 127.0.0.1 on a free port and prints {"port":N} once it serves, like
// `permanence serve --bind 127.0.0.1:0` logs its port. Its pool holds
// POSTGRAPHILE_POOL_MAX connections (default 16, as many as Permanence's PostgreSQL pool).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";

const connectionString = process.env.POSTGRAPHILE_DATABASE_URL;
if (!connectionString) {
  console.error("server.mjs: set POSTGRAPHILE_DATABASE_URL");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  // Every column may be a condition or an ordering, indexed or not: the pool filters on
  // flags that lead no index (PostGraphile offers conditions on indexed columns only).
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.POSTGRAPHILE_POOL_MAX ?? 16) },
    }),
  ],
  grafserv: { graphiql: false, watch: false, maxRequestLength: 100_000 },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
await serv.addTo(server);
await pgl.getSchema();
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
const stop = () => server.close(() => pgl.release().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
