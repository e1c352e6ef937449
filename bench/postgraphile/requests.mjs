// The request sets of the paired benchmark (scripts/bench-compare): for each shape, one
// replay file for Permanence and one for PostGraphile (see bench/src/replay.rs), asking
// for the same records and the same stored fields, and one pgbench script running the
// SELECTs either would need. Before writing anything it checks that the two servers agree:
// the same children on every page in the same order, the same totals, the same pool.
//
//   node requests.mjs --database URL --permanence URL --bearer TOKEN --postgraphile URL \
//        --authority CODE --out DIR
//
// The bearer is a FAMILY_FINDER token of the authority; PostGraphile gets no token.
import { parseArgs } from "node:util";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";

const { values: opt } = parseArgs({
  options: {
    database: { type: "string" },
    permanence: { type: "string" },
    bearer: { type: "string" },
    postgraphile: { type: "string" },
    authority: { type: "string" },
    out: { type: "string" },
    children: { type: "string", default: "2000" },
  },
});
for (const k of ["database", "permanence", "bearer", "postgraphile", "authority", "out"]) {
  if (!opt[k]) fail(`--${k} is required`);
}

function fail(message) {
  console.error(`requests.mjs: ${message}`);
  process.exit(1);
}

const globalId = (kind, id) => Buffer.from(`${kind}:${id}`).toString("base64url");
const rowOf = (id) => Number(Buffer.from(id, "base64url").toString().split(":")[1]);

async function gql(url, bearer, query, variables) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) fail(`${url}: ${JSON.stringify(body.errors[0])}`);
  return body.data;
}

// The stored fields both servers return, by shape.
const CHILD_FIELDS_P = `id version legalName dateOfBirth profileName gender ethnicity
  needs { physicalHealth disability learning developmentalUncertainty emotionalBehavioural prenatalExposure }
  requiresEarlyPermanence
  milestones { enteredCareOn adoptionPlanOn shobpaDecisionOn placementOrderOn matchDecisionOn placedOn adoptionOrderOn }`;
const CHILD_FIELDS_G = `rowId version legalName dateOfBirth profileName gender ethnicity
  needPhysicalHealth needDisability needLearning needDevelopmentalUncertainty needEmotionalBehavioural needPrenatalExposure
  requiresEarlyPermanence
  enteredCareOn adoptionPlanOn shobpaDecisionOn placementOrderOn matchDecisionOn placedOn adoptionOrderOn`;
const PAGE_FIELDS_P = `id version profileName dateOfBirth gender
  milestones { enteredCareOn placementOrderOn matchDecisionOn placedOn }`;
const PAGE_FIELDS_G = `rowId version profileName dateOfBirth gender
  enteredCareOn placementOrderOn matchDecisionOn placedOn`;
const NESTED_P = `siblingGroup { id mustStayTogether } authority { code name }`;
const NESTED_G = `siblingGroupBySiblingGroupId { rowId mustStayTogether } authorityByAuthorityId { code name }`;

const shapes = {
  child: {
    permanence: `query ($id: ID!) { child(id: $id) { ${CHILD_FIELDS_P} } }`,
    postgraphile: `query ($id: BigInt!) { childByRowId(rowId: $id) { ${CHILD_FIELDS_G} } }`,
  },
  page: {
    permanence: `query ($after: String) { children(first: 50, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { ${PAGE_FIELDS_P} } } }`,
    postgraphile: `query ($after: Cursor, $authority: BigInt!) { allChildren(first: 50, after: $after,
      condition: { authorityId: $authority }, orderBy: PRIMARY_KEY_ASC) {
      totalCount pageInfo { hasNextPage endCursor } nodes { ${PAGE_FIELDS_G} } } }`,
  },
  nested: {
    permanence: `query ($after: String) { children(first: 50, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { ${PAGE_FIELDS_P} ${NESTED_P} } } }`,
    postgraphile: `query ($after: Cursor, $authority: BigInt!) { allChildren(first: 50, after: $after,
      condition: { authorityId: $authority }, orderBy: PRIMARY_KEY_ASC) {
      totalCount pageInfo { hasNextPage endCursor } nodes { ${PAGE_FIELDS_G} ${NESTED_G} } } }`,
  },
  pool: {
    permanence: `query ($authority: ID!, $siblings: Boolean!) { poolHouseholds(first: 20,
      filter: { authorityIds: [$authority], acceptsSiblings: $siblings }) {
      totalCount nodes { id profileName profileText
        approval { capacity ageRange { minMonths maxMonths } acceptsSiblings approvedOn } } } }`,
    postgraphile: `query ($consortium: BigInt!, $authority: BigInt!, $siblings: Boolean!) { allHouseholds(first: 20,
      condition: { consortiumId: $consortium, authorityId: $authority, acceptsSiblings: $siblings,
        stage: "APPROVED", onHold: false, availableForMatching: true, sharedWithConsortium: true },
      orderBy: [APPROVED_ON_ASC, PRIMARY_KEY_ASC]) {
      totalCount nodes { rowId profileName profileText capacity ageMinMonths ageMaxMonths acceptsSiblings approvedOn } } }`,
  },
};

const db = new pg.Client({ connectionString: opt.database });
await db.connect();
const { rows: [authority] } = await db.query(
  "SELECT a.id, a.consortium_id FROM authority a WHERE a.code = $1",
  [opt.authority],
);
if (!authority) fail(`no authority ${opt.authority}`);
const { rows: children } = await db.query(
  "SELECT id FROM child WHERE authority_id = $1 ORDER BY md5(id::text) LIMIT $2",
  [authority.id, Number(opt.children)],
);
const { rows: authorities } = await db.query(
  "SELECT id FROM authority WHERE consortium_id = $1 ORDER BY id",
  [authority.consortium_id],
);
const { rows: [bounds] } = await db.query(
  "SELECT min(id) AS lo, max(id) AS hi FROM child WHERE authority_id = $1",
  [authority.id],
);
await db.end();
if (children.length === 0) fail(`authority ${opt.authority} has no children`);

// child(id): the same children, by each server's id.
const variables = { child: { permanence: [], postgraphile: [] } };
for (const { id } of children) {
  variables.child.permanence.push({ id: globalId("Child", id) });
  variables.child.postgraphile.push({ id: String(id) });
}
const one = children[0].id;
const p1 = await gql(opt.permanence, opt.bearer, shapes.child.permanence, { id: globalId("Child", one) });
const g1 = await gql(opt.postgraphile, "", shapes.child.postgraphile, { id: String(one) });
if (p1.child.legalName !== g1.childByRowId.legalName) fail(`child ${one} differs`);

// Pages: walk both lists to the end, checking they hold the same children in the same order.
const authorityVars = { authority: String(authority.id) };
const cursors = { permanence: [null], postgraphile: [null] };
let total = null;
for (let page = 0; ; page++) {
  const p = (await gql(opt.permanence, opt.bearer, shapes.page.permanence, {
    after: cursors.permanence[page],
  })).children;
  const g = (await gql(opt.postgraphile, "", shapes.page.postgraphile, {
    after: cursors.postgraphile[page],
    ...authorityVars,
  })).allChildren;
  const pIds = p.nodes.map((n) => rowOf(n.id)).join(",");
  const gIds = g.nodes.map((n) => Number(n.rowId)).join(",");
  if (pIds !== gIds) fail(`page ${page} differs: ${pIds.slice(0, 80)} / ${gIds.slice(0, 80)}`);
  if (p.totalCount !== g.totalCount) fail(`totalCount differs: ${p.totalCount} / ${g.totalCount}`);
  total = p.totalCount;
  if (!p.pageInfo.hasNextPage) break;
  cursors.permanence.push(p.pageInfo.endCursor);
  cursors.postgraphile.push(g.pageInfo.endCursor);
}
for (const shape of ["page", "nested"]) {
  variables[shape] = {
    permanence: cursors.permanence.map((after) => ({ after })),
    postgraphile: cursors.postgraphile.map((after) => ({ after, ...authorityVars })),
  };
}

// The pool: each authority's shared households, with and without sibling groups.
variables.pool = { permanence: [], postgraphile: [] };
let pooled = 0;
for (const { id } of authorities) {
  for (const siblings of [true, false]) {
    const pv = { authority: globalId("Authority", id), siblings };
    const gv = { consortium: String(authority.consortium_id), authority: String(id), siblings };
    const p = (await gql(opt.permanence, opt.bearer, shapes.pool.permanence, pv)).poolHouseholds;
    const g = (await gql(opt.postgraphile, "", shapes.pool.postgraphile, gv)).allHouseholds;
    if (p.totalCount !== g.totalCount) {
      fail(`pool of authority ${id} (siblings ${siblings}): ${p.totalCount} / ${g.totalCount}`);
    }
    const pIds = p.nodes.map((n) => rowOf(n.id)).join(",");
    const gIds = g.nodes.map((n) => Number(n.rowId)).join(",");
    if (pIds !== gIds) fail(`pool of authority ${id} differs: ${pIds.slice(0, 80)} / ${gIds.slice(0, 80)}`);
    pooled += p.totalCount;
    variables.pool.permanence.push(pv);
    variables.pool.postgraphile.push(gv);
  }
}

for (const [shape, queries] of Object.entries(shapes)) {
  for (const server of ["permanence", "postgraphile"]) {
    const replay = {
      name: shape,
      bearer: server === "permanence" ? opt.bearer : "",
      query: queries[server],
      variables: variables[shape][server],
    };
    writeFileSync(join(opt.out, `${server}-${shape}.json`), JSON.stringify(replay));
  }
}

// pgbench: the SELECTs behind each shape, on random rows of the same authority.
const a = authority.id;
const childCols = `id, version, legal_name, date_of_birth, profile_name, gender, ethnicity,
  need_physical_health, need_disability, need_learning, need_developmental_uncertainty,
  need_emotional_behavioural, need_prenatal_exposure, requires_early_permanence,
  entered_care_on, adoption_plan_on, shobpa_decision_on, placement_order_on,
  match_decision_on, placed_on, adoption_order_on`;
const pageCols = `c.id, c.version, c.profile_name, c.date_of_birth, c.gender, c.entered_care_on,
  c.placement_order_on, c.match_decision_on, c.placed_on`;
const random = `\\set after random(${bounds.lo - 1}, ${bounds.hi})\n`;
const sql = {
  child: `\\set id random(${bounds.lo}, ${bounds.hi})\nSELECT ${childCols.replace(/\n/g, " ")} FROM child WHERE id = :id AND authority_id = ${a};\n`,
  page:
    random +
    `SELECT count(*) FROM child WHERE authority_id = ${a};\n` +
    `SELECT ${pageCols.replace(/\n/g, " ")} FROM child c WHERE c.authority_id = ${a} AND c.id > :after ORDER BY c.id LIMIT 51;\n`,
  nested:
    random +
    `SELECT count(*) FROM child WHERE authority_id = ${a};\n` +
    `SELECT ${pageCols.replace(/\n/g, " ")}, s.id, s.must_stay_together, au.code, au.name FROM child c ` +
    `LEFT JOIN sibling_group s ON s.id = c.sibling_group_id JOIN authority au ON au.id = c.authority_id ` +
    `WHERE c.authority_id = ${a} AND c.id > :after ORDER BY c.id LIMIT 51;\n`,
  pool:
    `\\set authority random(${authorities[0].id}, ${authorities.at(-1).id})\n` +
    `SELECT count(*) FROM household WHERE consortium_id = ${authority.consortium_id} AND authority_id = :authority AND stage = 'APPROVED' AND on_hold = false AND available_for_matching AND shared_with_consortium AND accepts_siblings;\n` +
    `SELECT id, profile_name, profile_text, capacity, age_min_months, age_max_months, accepts_siblings, approved_on FROM household ` +
    `WHERE consortium_id = ${authority.consortium_id} AND authority_id = :authority AND stage = 'APPROVED' AND on_hold = false AND available_for_matching AND shared_with_consortium AND accepts_siblings ORDER BY approved_on, id LIMIT 21;\n`,
};
for (const [shape, text] of Object.entries(sql)) {
  writeFileSync(join(opt.out, `pgbench-${shape}.sql`), text);
}
console.log(JSON.stringify({ children: children.length, total, pages: cursors.permanence.length, pooled }));
