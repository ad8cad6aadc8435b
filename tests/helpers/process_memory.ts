// Test helper: how much memory a process holds, as the kernel counts it (Linux's /proc).

/** The resident memory of process `pid`, in bytes. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)![1]) * 1024;
}
