// How the API answers: plain-text responses with bounded messages, and the one table that maps
// the domain errors' reasons to HTTP status codes and headers.

import type { RejectionReason } from "../core/errors.ts";

/** The status of a request refused for each reason. */
export const STATUS_BY_REASON: Record<RejectionReason, number> = {
  parse: 400,
  invalid_push: 400,
  type_conflict: 400,
  bad_path: 400,
  bad_encoding: 400,
  incomplete_body: 400,
  unsupported_media_type: 415,
  body_too_large: 413,
  unauthorized: 401,
  origin_not_allowed: 403,
  series_limit: 429,
  label_limit: 400,
  bytes_limit: 429,
  family_limit: 429,
  bucket_limit: 400,
  overloaded: 503,
  push_limit: 413,
  rule_rejected: 400,
};

/** Headers that a refusal for a reason carries besides its message. */
const HEADERS_BY_REASON: Partial<Record<RejectionReason, Record<string, string>>> = {
  unauthorized: { "WWW-Authenticate": 'Basic realm="prom-aggregation-gateway", charset="UTF-8"' },
  overloaded: { "Retry-After": "1" },
};

/** The answer to a request refused for `reason`, with `message`. */
export function refusal(reason: RejectionReason, message: string): Response {
  return text(STATUS_BY_REASON[reason], message, HEADERS_BY_REASON[reason]);
}

/** The most chars of an error message sent back: messages quote what was pushed. */
const MAX_MESSAGE = 1024;

/** `message`, cut to {@linkcode MAX_MESSAGE} chars with a note of what was left out. */
function boundMessage(message: string): string {
  if (message.length <= MAX_MESSAGE) return message;
  return `${message.slice(0, MAX_MESSAGE)}… (${message.length - MAX_MESSAGE} more chars)`;
}

/** A plain-text answer; the message is bounded, since it may quote what a sender sent. */
export function text(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(boundMessage(message) + "\n", {
    status,
    // Messages quote what was pushed: no browser may read one as anything but text.
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "X-Content-Type-Options": "nosniff",
      ...headers,
    },
  });
}
