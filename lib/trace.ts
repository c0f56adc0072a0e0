// Phase timings for diagnosing a slow hook: KITTY_SYNC_TRACE=1 prints, on exit, how long
// each phase took since the process started, in wall time and in this process's CPU time
// (CPU close to wall: the phase computed; far below: it waited for git, the disk or the network).
// Off by default; costs nothing when off.
const enabled = process.env.KITTY_SYNC_TRACE === '1';
const marks: [string, number, number][] = [];

export function mark(label: string): void {
  if (!enabled) return;
  if (marks.length === 0) process.once('exit', () => process.stderr.write(`${formatMarks()}\n`));
  const cpu = process.cpuUsage();
  marks.push([label, performance.now(), (cpu.user + cpu.system) / 1000]);
}

function formatMarks(): string {
  let prev = 0;
  let prevCpu = 0;
  return marks
    .map(([label, at, cpu]) => {
      const line = `kitty-sync trace: ${at.toFixed(0).padStart(5)} ms (+${(at - prev).toFixed(0).padStart(4)})  cpu ${cpu.toFixed(0).padStart(5)} ms (+${(cpu - prevCpu).toFixed(0).padStart(4)})  ${label}`;
      prev = at;
      prevCpu = cpu;
      return line;
    })
    .join('\n');
}
