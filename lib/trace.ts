// Phase timings for diagnosing a slow hook: KITTY_SYNC_TRACE=1 prints, on exit, how long
// each phase took since the process started. Off by default; costs nothing when off.
const enabled = process.env.KITTY_SYNC_TRACE === '1';
const marks: [string, number][] = [];

export function mark(label: string): void {
  if (!enabled) return;
  if (marks.length === 0) process.once('exit', () => process.stderr.write(`${formatMarks()}\n`));
  marks.push([label, performance.now()]);
}

function formatMarks(): string {
  let prev = 0;
  return marks
    .map(([label, at]) => {
      const line = `kitty-sync trace: ${at.toFixed(0).padStart(5)} ms  (+${(at - prev).toFixed(0).padStart(4)})  ${label}`;
      prev = at;
      return line;
    })
    .join('\n');
}
