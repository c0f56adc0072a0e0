// For the launcher tests: temp dirs that go away after the test file, and a fake CLI that records how
// the launchers call it (so the hook layer is tested without the agent).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix = 'kitty-sync-test-'): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export interface CliCall {
  argv: string[];
  stdin: string;
  cwd: string;
}

/** A fake `kitty-sync` CLI that appends each call (argv, stdin for pre-push) to calls.jsonl. */
export function makeFakeCli(temp: TempDirs): { cliPath: string; calls: () => CliCall[]; reset: () => void } {
  const dir = temp.make('kitty-sync-fakecli-');
  const log = path.join(dir, 'calls.jsonl');
  const cliPath = path.join(dir, 'fake-cli.mjs');
  writeFileSync(
    cliPath,
    `import { appendFileSync, readFileSync } from 'node:fs';
const argv = process.argv.slice(2);
const stdin = argv[1] === 'pre-push' ? readFileSync(0, 'utf8') : '';
appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv, stdin, cwd: process.cwd() }) + '\\n');
`,
  );
  chmodSync(cliPath, 0o644);
  return {
    cliPath,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as CliCall)
        : [],
    reset: () => rmSync(log, { force: true }),
  };
}
