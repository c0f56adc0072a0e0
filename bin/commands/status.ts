// Placeholder until its issue lands: registered so the CLI shape is fixed from the start.
import type { CommandModule } from 'yargs';

const command: CommandModule = {
  command: 'status',
  describe: '(not yet available)',
  handler: () => {
    process.stderr.write('kitty-sync: status is not available yet\n');
    process.exitCode = 1;
  },
};
export default command;
