// A peer SCIM server for the benchmarks: scimmy and scimmy-routers on express, with
// in-memory handlers. The handlers are as a careful integrator would write them: users
// and groups in Maps by id, a userName index for uniqueness and `userName eq` filters,
// every other filter through scimmy's own Filter.match.
//
//     node server.js PORT TOKEN

import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {randomUUID} from "node:crypto";

const [port, token] = [Number(process.argv[2] ?? 8080), process.argv[3] ?? "token"];
const users = new Map();
const userNames = new Map(); // lowercased userName -> id
const groups = new Map();

const now = () => new Date().toISOString();
const conflict = (detail) => new SCIMMY.Types.Error(409, "uniqueness", detail);
const notFound = (id) => new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
const simpleUserName = /^userName eq "([^"]*)"$/i;

/** The stored values a read asks for: one by id, the userName index, or a filtered scan. */
function select(store, resource, byUserName) {
    if (resource.id) {
        const found = store.get(resource.id);
        if (!found) throw notFound(resource.id);
        return [found];
    }
    if (!resource.filter) return [...store.values()];
    const simple = byUserName && simpleUserName.exec(resource.filter.expression ?? "");
    if (simple) {
        const id = userNames.get(simple[1].toLowerCase());
        return id ? [users.get(id)] : [];
    }
    return resource.filter.match([...store.values()]);
}

SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .egress((resource) => select(users, resource, true))
    .ingress((resource, instance) => {
        const key = instance.userName.toLowerCase();
        const holder = userNames.get(key);
        if (holder && holder !== resource.id) throw conflict(`userName ${instance.userName} is taken`);
        const existing = resource.id ? users.get(resource.id) : undefined;
        if (resource.id && !existing) throw notFound(resource.id);
        if (existing) userNames.delete(existing.userName.toLowerCase());
        const id = resource.id ?? randomUUID();
        const stored = {...JSON.parse(JSON.stringify(instance)), id,
            meta: {created: existing?.meta.created ?? now(), lastModified: now()}};
        users.set(id, stored);
        userNames.set(key, id);
        return stored;
    })
    .degress((resource) => {
        const existing = users.get(resource.id);
        if (!existing) throw notFound(resource.id);
        userNames.delete(existing.userName.toLowerCase());
        users.delete(resource.id);
    });

SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .egress((resource) => select(groups, resource, false))
    .ingress((resource, instance) => {
        const existing = resource.id ? groups.get(resource.id) : undefined;
        if (resource.id && !existing) throw notFound(resource.id);
        const id = resource.id ?? randomUUID();
        const stored = {...JSON.parse(JSON.stringify(instance)), id,
            meta: {created: existing?.meta.created ?? now(), lastModified: now()}};
        groups.set(id, stored);
        return stored;
    })
    .degress((resource) => {
        if (!groups.delete(resource.id)) throw notFound(resource.id);
    });

const app = express();
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.com/bench",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization not detected!");
        return "bench";
    },
}));
app.listen(port, "127.0.0.1", () => console.log(`scimmy peer listening on ${port}`));
