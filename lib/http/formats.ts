// The formats a push body can be in: which Content-Type selects which parser. Adding a format is
// a row here and its parser in lib/ingest/.

import type { Label, Push } from "../core/model.ts";
import { RequestError } from "../core/errors.ts";
import type { PushLimits } from "../ingest/push_builder.ts";
import { parseProtobuf } from "../ingest/parse_protobuf.ts";
import { parseTextBody } from "../ingest/parse_text.ts";
import type { SeriesCache } from "../ingest/series_cache.ts";

/** What a parser is given besides the body. */
export interface ParseContext {
  /** The path's grouping labels, added to every series. */
  grouping: readonly Label[];
  limits: PushLimits;
  /** The series cache of the push path. */
  cache: SeriesCache;
  /** The body as text; refuses invalid UTF-8 with a `bad_encoding` RequestError. */
  decode: (body: Uint8Array) => string;
}

/** A body format: how to tell it from its media type, and how to parse it. */
interface BodyFormatSpec {
  /** The media type, lower case; undefined for the format of any other (or no) Content-Type. */
  mediaType: string | undefined;
  /**
   * Checks the media type's parameters (lower-case names, unquoted values); throws a
   * RequestError when they ask for what the parser cannot read.
   */
  checkParameters?: (parameters: ReadonlyMap<string, string>) => void;
  parse: (body: Uint8Array, context: ParseContext) => Push;
}

const PROTOBUF_TYPE = "application/vnd.google.protobuf";
const PROTOBUF_PARAMETERS = "proto=io.prometheus.client.MetricFamily; encoding=delimited";

/**
 * The formats, chosen by `Content-Type`: protobuf (delimited MetricFamily messages, parameters
 * in any order) and OpenMetrics text by their media types, the text format 0.0.4 for anything
 * else, since clients such as prom-client send no Content-Type at all.
 */
export const BODY_FORMATS = {
  text: {
    mediaType: undefined,
    parse: (body, c) => parseTextBody(body, c.decode, false, c.grouping, c.limits, c.cache),
  },
  openmetrics: {
    mediaType: "application/openmetrics-text",
    parse: (body, c) => parseTextBody(body, c.decode, true, c.grouping, c.limits, c.cache),
  },
  protobuf: {
    mediaType: PROTOBUF_TYPE,
    checkParameters(parameters) {
      if (
        parameters.get("proto") !== "io.prometheus.client.MetricFamily" ||
        parameters.get("encoding") !== "delimited"
      ) {
        throw new RequestError(
          `protobuf bodies must be "${PROTOBUF_TYPE}; ${PROTOBUF_PARAMETERS}"`,
          "unsupported_media_type",
        );
      }
    },
    parse: (body, c) => parseProtobuf(body, c.grouping, c.limits),
  },
} satisfies Record<string, BodyFormatSpec>;

/** The formats a push body can be in. */
export type BodyFormat = keyof typeof BODY_FORMATS;

/** The format a `Content-Type` selects; throws a RequestError for parameters it cannot read. */
export function bodyFormat(contentType: string | null): BodyFormat {
  const [mediaType, ...parameters] = (contentType ?? "").split(";").map((p) => p.trim());
  const type = mediaType.toLowerCase();
  for (const [name, spec] of Object.entries(BODY_FORMATS) as [BodyFormat, BodyFormatSpec][]) {
    if (spec.mediaType !== type) continue;
    spec.checkParameters?.(
      new Map(parameters.map((p) => {
        const eq = p.indexOf("=");
        return [
          p.slice(0, eq).trim().toLowerCase(),
          p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"),
        ];
      })),
    );
    return name;
  }
  return "text";
}
