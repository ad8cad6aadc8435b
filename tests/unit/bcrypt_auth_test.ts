import assert from "node:assert/strict";
import { BCRYPT_LIMITS, BcryptAuthenticator, sourceOf } from "../../lib/http/auth.ts";

// A bcrypt hash of "secret" at cost 4, cheap enough for unit tests.
const SECRET_HASH = "$2b$04$RvXHCQeqg/eU3YkK7AmkguNvT4LsAvtW4a7AQLM5GMpfVFzfxl3m.";

const basic = (user: string, password: string) => "Basic " + btoa(`${user}:${password}`);

Deno.test("BcryptAuthenticator.verify() checks the hash once, then answers from its cache", async () => {
  const auth = new BcryptAuthenticator(new Map([["prom", SECRET_HASH]]), {
    ...BCRYPT_LIMITS,
    restRatio: 0,
  });
  assert.equal(await auth.verify(null), "missing");
  assert.equal(await auth.verify("Bearer abc"), "missing");
  assert.equal(await auth.verify(basic("prom", "wrong")), "wrong");
  assert.equal(await auth.verify(basic("nobody", "secret")), "wrong", "unknown user");
  assert.equal(auth.cached, 0, "failures are not cached");
  assert.equal(await auth.verify(basic("prom", "secret")), "ok");
  assert.equal(auth.cached, 1);
  assert.equal(await auth.verify(basic("prom", "secret")), "ok");
  assert.equal(auth.cached, 1);
  // bcrypt reads 72 bytes at most: a longer password was never hashed, and is not compared.
  assert.equal(await auth.verify(basic("prom", "secret" + "x".repeat(80))), "wrong");
});

Deno.test("BcryptAuthenticator.verify() is busy past its running and waiting comparisons", async () => {
  const auth = new BcryptAuthenticator(new Map([["prom", SECRET_HASH]]), {
    maxCacheBytes: 1024,
    maxRunning: 1,
    maxWaiting: 2,
    restRatio: 0,
  });
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => auth.verify(basic("prom", `wrong${i}`))),
  );
  assert.deepEqual(results, ["wrong", "wrong", "wrong", "busy", "busy", "busy"]);
  assert.equal(await auth.verify(basic("prom", "secret")), "ok", "free again afterwards");
});

Deno.test("BcryptAuthenticator keeps its cache within its byte budget", async () => {
  // Two users, a budget for one entry: the older one leaves.
  const auth = new BcryptAuthenticator(
    new Map([["a", SECRET_HASH], ["b", SECRET_HASH]]),
    { maxCacheBytes: 250, maxRunning: 1, maxWaiting: 4, restRatio: 0 },
  );
  assert.equal(await auth.verify(basic("a", "secret")), "ok");
  assert.equal(await auth.verify(basic("b", "secret")), "ok");
  assert.equal(auth.cached, 1);
});

Deno.test("BcryptAuthenticator rests after each comparison before the next may start", async () => {
  const limits = { ...BCRYPT_LIMITS, maxRunning: 1, maxWaiting: 0 };
  // Without a rest, the slot is free as soon as a comparison ends.
  const eager = new BcryptAuthenticator(new Map([["prom", SECRET_HASH]]), {
    ...limits,
    restRatio: 0,
  });
  assert.equal(await eager.verify(basic("prom", "one")), "wrong");
  assert.equal(await eager.verify(basic("prom", "two")), "wrong");
  // With one, the slot stays taken for a while after: the next check, with no room to wait, is
  // busy.
  const resting = new BcryptAuthenticator(new Map([["prom", SECRET_HASH]]), {
    ...limits,
    restRatio: 1000,
  });
  assert.equal(await resting.verify(basic("prom", "secret")), "ok");
  assert.equal(await resting.verify(basic("prom", "two")), "busy");
  // Cached credentials need no slot.
  assert.equal(await resting.verify(basic("prom", "secret")), "ok");
});

Deno.test("BcryptAuthenticator.verify() lets one source have one check at a time; the others keep their places", async () => {
  const auth = new BcryptAuthenticator(new Map([["prom", SECRET_HASH]]), {
    maxCacheBytes: 1024,
    maxRunning: 1,
    maxWaiting: 2,
    restRatio: 0,
  });
  const flood = Array.from(
    { length: 6 },
    (_, i) => auth.verify(basic("prom", `wrong${i}`), `192.0.2.1:${4000 + i}`),
  );
  const other = auth.verify(basic("prom", "secret"), "192.0.2.2:5000");
  const v6 = [
    auth.verify(basic("prom", "a"), "[2001:db8::1]:1"),
    auth.verify(basic("prom", "b"), "[2001:db8:0:0:ffff::2]:2"),
  ];
  assert.deepEqual(await Promise.all(flood), ["wrong", "busy", "busy", "busy", "busy", "busy"]);
  assert.equal(await other, "ok");
  assert.deepEqual(await Promise.all(v6), ["wrong", "busy"], "one /64 is one source");
  assert.equal(await auth.verify(basic("prom", "c"), "192.0.2.1:4000"), "wrong", "free again");
});

Deno.test("sourceOf() is the host of an address, an IPv6 one's /64", () => {
  assert.equal(sourceOf("127.0.0.2:8080"), "127.0.0.2");
  assert.equal(sourceOf("[::1]:8080"), "0:0:0:0::/64");
  assert.equal(sourceOf("[2001:DB8:0:12::1]:1"), "2001:db8:0:12::/64");
  assert.equal(sourceOf("[2001:db8:0000:0012:aaaa:bbbb:cccc:dddd]:1"), "2001:db8:0:12::/64");
  assert.equal(sourceOf("[2001:db8::]:1"), "2001:db8:0:0::/64");
  assert.equal(sourceOf("[::ffff:192.0.2.7]:1"), "192.0.2.7");
});
