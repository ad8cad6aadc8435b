// JSON deltas over UDP, to a real gateway process, from a real socket.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { type GatewayProcess, startGateway } from "../helpers/gateway_process.ts";
import { selfMetric } from "../helpers/self_metrics.ts";
import { waitUntil } from "../helpers/wait.ts";

/** How many datagrams the gateway has handled, taken or refused: UDP has no answer. */
async function handled(gateway: GatewayProcess): Promise<number> {
  return await selfMetric(gateway, 'pag_pushes_total{outcome="accepted"}') +
    await selfMetric(gateway, 'pag_pushes_total{outcome="rejected"}');
}

/**
 * Sends the datagrams in waves of 100, each once the gateway has handled the one before.
 * Unpaced, a burst larger than the kernel's default socket buffer (about 270 small datagrams
 * with Linux's 208 KiB) would be dropped before the gateway reads it: Deno's node:dgram cannot
 * enlarge the buffer (see the README).
 */
async function send(gateway: GatewayProcess, datagrams: (string | Uint8Array)[]): Promise<void> {
  const socket = dgram.createSocket("udp4");
  const before = await handled(gateway);
  try {
    for (let i = 0; i < datagrams.length; i++) {
      await new Promise<void>((resolve, reject) =>
        socket.send(
          datagrams[i],
          gateway.udp!.port,
          "127.0.0.1",
          (error) => error ? reject(error) : resolve(),
        )
      );
      if (i % 100 === 99) {
        const sent = before + i + 1;
        await waitUntil(
          `the gateway to handle ${sent} datagrams`,
          async () => (await handled(gateway)) >= sent,
          { timeoutMs: 10_000 },
        );
      }
    }
  } finally {
    socket.close();
  }
}

/** The aggregate once `done` holds for it: the only sign that datagrams were applied. */
async function scrapeWhen(gateway: GatewayProcess, done: (text: string) => boolean) {
  let text = "";
  await waitUntil(() => `the aggregate to be complete; it is:\n${text}`, async () => {
    text = await (await fetch(gateway.api + "/metrics")).text();
    return done(text);
  }, { timeoutMs: 10_000 });
  return text;
}

Deno.test("--udpListen applies a burst of 5000 datagrams, every one of them", async () => {
  await using gateway = await startGateway(["--udpListen", "127.0.0.1:0"]);
  const burst = 5000;
  const datagrams = Array.from(
    { length: burst },
    (_, i) =>
      i % 2 === 0
        ? `{"type":"counter","name":"udp_hits","method":"inc","labels":{"shard":"${i % 4}"}}`
        : `[{"type":"counter","name":"udp_hits","method":"add","value":2,"labels":{"shard":"${
          i % 4
        }"}},` +
          `{"type":"histogram","name":"udp_seconds","method":"observe","value":0.2,"buckets":[0.1,1]}]`,
  );
  await send(gateway, datagrams);
  let sum = 0;
  for (let i = 0; i < burst / 2; i++) sum += 0.2; // the same float additions as the gateway
  const expected = "udp_seconds_count 2500\n";
  const text = await scrapeWhen(gateway, (t) => t.includes(expected));
  assert.equal(
    text,
    "# TYPE udp_hits counter\n" +
      'udp_hits{shard="0"} 1250\nudp_hits{shard="1"} 2500\nudp_hits{shard="2"} 1250\nudp_hits{shard="3"} 2500\n' +
      '# TYPE udp_seconds histogram\nudp_seconds_bucket{le="0.1"} 0\nudp_seconds_bucket{le="1"} 2500\n' +
      `udp_seconds_bucket{le="+Inf"} 2500\nudp_seconds_sum ${sum}\n` + expected,
  );
});

Deno.test("a bad datagram is logged and counted, and the listener goes on", async () => {
  await using gateway = await startGateway(["--udpListen", "127.0.0.1:0"]);
  await send(gateway, [
    "not json",
    new Uint8Array([0xff, 0xfe]),
    '{"type":"counter","name":"c","method":"add","value":-1}',
    '{"type":"counter","name":"c","method":"inc"}',
  ]);
  const text = await scrapeWhen(gateway, (t) => t.includes("c 1\n"));
  assert.equal(text, "# TYPE c counter\nc 1\n");
  const own = await (await fetch(gateway.lifecycle + "/metrics")).text();
  assert.match(own, /^pag_rejections_total\{reason="parse"\} 1$/m);
  assert.match(own, /^pag_rejections_total\{reason="bad_encoding"\} 1$/m);
  assert.match(own, /^pag_rejections_total\{reason="invalid_push"\} 1$/m);
  assert.match(own, /^pag_pushes_total\{outcome="rejected"\} 3$/m);
  const refused = gateway.lines.filter((l) => l.includes('msg="udp datagram refused"'));
  assert.equal(refused.length, 3);
  assert.ok(refused[2].includes("add of negative value -1"), refused[2]);
});

Deno.test("--udpListen off by default: no udp listener is opened", async () => {
  await using gateway = await startGateway();
  assert.equal(gateway.udp, undefined);
  assert.ok(!gateway.lines.some((l) => l.includes("listener=udp")));
});
