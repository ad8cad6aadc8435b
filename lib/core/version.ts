// The gateway's version and the commit it was built from, for `version`, `/ready` and
// `pag_build_info`. The commit is in build_info.json, which scripts/build_info.ts writes
// before a release build compiles; a checkout has "unknown" there.

import denoJson from "../../deno.json" with { type: "json" };
import buildInfo from "./build_info.json" with { type: "json" };

export const NAME = "prom-aggregation-gateway";
export const VERSION: string = denoJson.version;
export const COMMIT: string = buildInfo.commit;
