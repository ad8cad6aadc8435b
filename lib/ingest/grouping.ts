// Reads grouping labels from a push URL: `/metrics/<name>/<value>/…`, as the Pushgateway's
// clients write them, including `<name>@base64/<base64url value>`.
// https://github.com/prometheus/pushgateway#url

import { RequestError } from "../core/errors.ts";
import { isLabelName, type Label } from "../core/model.ts";

const BASE64_SUFFIX = "@base64";

/**
 * Parses the part of a URL path after `/metrics`, still percent-encoded, into label pairs in
 * path order. Segments are split on `/` first and then decoded one by one, so `%2F` is a slash
 * inside a value; `+` is a space, because the Go and Python clients encode a space as `+` and a
 * literal `+` as `%2B`. A trailing slash after a value is ignored; after a name that follows a
 * full pair it leaves the value empty. An empty value means the label is absent.
 *
 * Throws {@linkcode RequestError} (reason `bad_path`) naming the problem.
 */
export function parseGroupingPath(rawPath: string): Label[] {
  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  if (path === "" || path === "/") return [];
  const segments = path.split("/");
  // A trailing slash ends a whole path (`/job/a/`), or, after a full pair, leaves the last
  // value empty, as prom-client writes a grouping label whose value is "" (`/job/a/instance/`).
  // `/job/` alone stays a 400: it is what `…/job/$JOB` gives when $JOB is unset.
  if (segments.at(-1) === "" && (segments.length % 2 === 1 || segments.length === 2)) {
    segments.pop();
  }
  if (segments.length % 2 !== 0) {
    throw badPath(
      `the path must hold label name and value pairs, "${
        decodeSegment(segments.at(-1)!)
      }" has no value`,
    );
  }
  const labels: Label[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < segments.length; i += 2) {
    let name = decodeSegment(segments[i]);
    let value = decodeSegment(segments[i + 1]);
    if (name.endsWith(BASE64_SUFFIX)) {
      name = name.slice(0, -BASE64_SUFFIX.length);
      value = decodeBase64Url(name, value);
    }
    if (!isLabelName(name)) throw badPath(`invalid label name "${name}" in the path`);
    if (name.startsWith("__")) {
      throw badPath(
        `label name "${name}" in the path is reserved: names starting with "__" are for Prometheus`,
      );
    }
    if (seen.has(name)) throw badPath(`label "${name}" appears twice in the path`);
    seen.add(name);
    labels.push([name, value]);
  }
  return labels;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment.replaceAll("+", " "));
  } catch {
    throw badPath(`invalid percent-encoding in path segment "${segment}"`);
  }
}

/**
 * Decodes a base64url value (RFC 4648 §5), padding optional; `=` alone is the empty string,
 * which is how clients push an empty value that a plain path segment cannot carry.
 */
function decodeBase64Url(name: string, encoded: string): string {
  const text = encoded.replace(/=+$/, "");
  const invalid = () => badPath(`invalid base64url value "${encoded}" for label "${name}"`);
  if (text.length % 4 === 1) throw invalid();
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) ||
      c === 45 || c === 95;
    if (!ok) throw invalid();
  }
  const standard = text.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(standard + "=".repeat((4 - (standard.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  try {
    // ignoreBOM: a leading U+FEFF is part of the value, not a mark to drop.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw badPath(`base64url value "${encoded}" for label "${name}" is not valid UTF-8`);
  }
}

function badPath(message: string): RequestError {
  return new RequestError(message, "bad_path");
}
