import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  os: string;
  /** 1-minute load average when the run started: how busy the machine was with other work. */
  loadAverage: string;
  node: string;
  packages: Record<string, string>;
}

const PACKAGES = [
  '@apollo/server',
  'graphql',
  'type-graphql',
  'express',
  'pg',
  'typeorm',
  'pg-boss',
  'graphql-upload-minimal',
  'autocannon',
];

function installedVersion(root: string, name: string): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

export function describeMachine(root: string): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    loadAverage: os.loadavg()[0].toFixed(1),
    node: process.version,
    packages: Object.fromEntries(PACKAGES.map((p) => [p, installedVersion(root, p)])),
  };
}
