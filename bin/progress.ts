// A progress bar for long manual work: only on a terminal, never on a pipe, in --json or in hooks.
import type { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const NONE: Progress = { update: () => {}, stop: () => {} };

export async function progressBar(enabled: boolean, label: string): Promise<Progress> {
  if (!enabled || !process.stderr.isTTY) return NONE;
  const { default: cliProgress } = await import('cli-progress');
  let bar: SingleBar | null = null;
  return {
    update(done, total) {
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total}`, stream: process.stderr, clearOnComplete: true, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, done);
      }
      bar.setTotal(Math.max(total, done));
      bar.update(done);
    },
    stop() {
      bar?.stop();
    },
  };
}
