// What every module that logs receives: the Logger interface. Lines are written by `app/log.ts`
// alone; a module below it gets a Logger passed in.

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
