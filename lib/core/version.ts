// The gateway's version and the commit it was built from, for `version`, `/ready` and
// `pag_build_info`. The release workflow writes COMMIT before compiling.

import denoJson from "../../deno.json" with { type: "json" };

export const NAME = "prom-aggregation-gateway";
export const VERSION: string = denoJson.version;
export const COMMIT = "unknown";
