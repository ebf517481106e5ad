// Unit tests of the CloudFront Function, run by scripts/test with `node --test`. The file is
// evaluated as CloudFront does (a plain script defining `handler`), not imported as a module.
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const code = fs.readFileSync(path.join(__dirname, "ws-path-rewrite.js"), "utf8");
const handler = vm.runInNewContext(code + "\nhandler;", {});

function viewerRequest(uri, querystring) {
  return { version: "1.0", context: { eventType: "viewer-request" }, viewer: { ip: "192.0.2.1" },
    request: { method: "GET", uri, querystring: querystring || {}, headers: {}, cookies: {} } };
}

const ID = "0192f3c4-5a6b-7c8d-9e0f-a1b2c3d4e5f6";

test("the conversation id moves into the query string and the token stays", () => {
  const out = handler(viewerRequest(`/api/ws/conversations/${ID}`, { token: { value: "abc.def" } }));
  assert.strictEqual(out.uri, "/");
  assert.deepStrictEqual(JSON.parse(JSON.stringify(out.querystring)), { token: { value: "abc.def" }, conversation_id: { value: ID } });
});

test("a trailing slash and upper-case hex are accepted", () => {
  const out = handler(viewerRequest(`/api/ws/conversations/${ID.toUpperCase()}/`, {}));
  assert.strictEqual(out.uri, "/");
  assert.strictEqual(out.querystring.conversation_id.value, ID);
});

test("a conversation_id the client sent is replaced by the one in the path", () => {
  const other = "11111111-2222-3333-4444-555555555555";
  const out = handler(viewerRequest(`/api/ws/conversations/${ID}`, { conversation_id: { value: other } }));
  assert.strictEqual(out.querystring.conversation_id.value, ID);
});

test("anything else under the prefix is a 404 with a JSON detail", () => {
  for (const uri of [
    "/api/ws/conversations/",
    "/api/ws/conversations/not-a-uuid",
    `/api/ws/conversations/${ID}/extra`,
    `/api/ws/conversations/${ID}x`,
    "/api/ws/conversations/../../admin",
  ]) {
    const out = handler(viewerRequest(uri, {}));
    assert.strictEqual(out.statusCode, 404, uri);
    assert.deepStrictEqual(JSON.parse(out.body.data), { detail: "Not Found" });
  }
});

test("the template deploys exactly this file", () => {
  const template = fs.readFileSync(path.join(__dirname, "..", "template.yaml"), "utf8");
  const indented = code.trimEnd().split("\n").map((l) => (l ? "          " + l : "")).join("\n");
  assert.ok(template.includes(indented), "infra/template.yaml's WsPathRewrite FunctionCode differs from ws-path-rewrite.js");
});
