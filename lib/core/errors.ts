// The errors a push can be refused with. Each carries the reason it is counted under in the
// gateway's own metrics; `api.ts` alone maps them to HTTP status codes.

/** Why a request was refused, as counted in `pag_rejections_total{reason}`. */
export type RejectionReason =
  | "parse"
  | "invalid_push"
  | "type_conflict"
  | "bad_path"
  | "bad_encoding"
  | "incomplete_body"
  | "unsupported_media_type"
  | "body_too_large"
  | "unauthorized"
  | "origin_not_allowed"
  | "series_limit"
  | "label_limit"
  | "bytes_limit"
  | "family_limit"
  | "bucket_limit"
  | "overloaded"
  | "push_limit"
  | "rule_rejected";

/** A syntax error in a pushed body; `line` is 1-based, 0 when the error has no line. */
export class ParseError extends SyntaxError {
  readonly line: number;
  readonly reason: RejectionReason;

  constructor(message: string, line = 0, reason: RejectionReason = "parse") {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = "ParseError";
    this.line = line;
    this.reason = reason;
  }
}

/**
 * A push that parsed but cannot be applied: a negative counter, an incomplete histogram, the
 * same series twice, a type that conflicts with the store. The message names the metric.
 */
export class PushError extends Error {
  readonly reason: RejectionReason;

  constructor(message: string, reason: RejectionReason = "invalid_push") {
    super(message);
    this.name = "PushError";
    this.reason = reason;
  }
}

/** A request refused before its body was parsed: bad grouping path, encoding, size, auth. */
export class RequestError extends Error {
  readonly reason: RejectionReason;

  constructor(message: string, reason: RejectionReason) {
    super(message);
    this.name = "RequestError";
    this.reason = reason;
  }
}
