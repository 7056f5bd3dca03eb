#!/usr/bin/env node
// The operator CLI of the Parley auth service; see `parley-admin --help` and docs/operations.md.
import { runCli } from '../src/cli/parley-admin.ts';

process.exitCode = await runCli(process.argv.slice(2), process.env, {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
