/**
 * A small reader of the repository's Dockerfile and .dockerignore, enough for
 * scripts/image-smoke.sh to repeat the image's steps and for the tests to check the targets.
 * It understands what the Dockerfile uses: FROM … AS, WORKDIR, COPY (with --from/--chown),
 * RUN (with --mount), ENV, USER, EXPOSE, HEALTHCHECK … CMD [...], CMD [...], ENTRYPOINT [...],
 * ARG, line continuations and comments. Anything else is kept as a raw instruction.
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuations joined. */
  args: string;
  line: number;
}

export interface CopyStep {
  sources: string[];
  dest: string;
  /** Set for `COPY --from=<stage>`: not from the build context. */
  from?: string;
}

export interface Stage {
  name: string;
  base: string;
  workdir: string;
  instructions: Instruction[];
  copies: CopyStep[];
  /** RUN commands without their --mount/--network flags. */
  runs: string[];
  env: Record<string, string>;
  user?: string;
  expose: number[];
  cmd?: string[];
  entrypoint?: string[];
  healthcheck?: string[];
}

/** Splits a Dockerfile into instructions, joining `\` continuations and dropping comments. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const start = i + 1;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1).trimEnd();
      i++;
      const next = lines[i]!.trim();
      if (next.startsWith('#')) continue;
      line += ` ${next}`;
    }
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (match) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
  }
  return out;
}

/** Leading `--flag=value` options of COPY/RUN/HEALTHCHECK, and the rest. */
function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!match) break;
    flags[match[1]!] = match[2] ?? '';
    rest = rest.slice(match[0].length);
  }
  return { flags, rest };
}

function execForm(args: string, where: Instruction): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    parsed = undefined;
  }
  // The shell form would put sh between tini and Node, and sh does not forward SIGTERM.
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) {
    throw new Error(`Dockerfile line ${where.line}: ${where.keyword} must use the exec (JSON array) form`);
  }
  return parsed;
}

function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2]!;
    env[match[1]!] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return env;
}

/** The stages of a Dockerfile in order; a stage inherits its base stage's settings. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let current: Stage | undefined;
  for (const instruction of parseInstructions(text)) {
    const { keyword, args } = instruction;
    if (keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!match) throw new Error(`Dockerfile line ${instruction.line}: cannot read FROM ${args}`);
      const base = match[1]!;
      const parent = stages.find((s) => s.name === base);
      current = {
        name: match[2] ?? `stage-${stages.length}`,
        base,
        workdir: parent?.workdir ?? '/',
        instructions: [],
        copies: [],
        runs: [],
        env: { ...parent?.env },
        ...(parent?.user !== undefined && { user: parent.user }),
        expose: [],
        ...(parent?.cmd && { cmd: parent.cmd }),
        ...(parent?.entrypoint && { entrypoint: parent.entrypoint }),
        ...(parent?.healthcheck && { healthcheck: parent.healthcheck }),
      };
      stages.push(current);
      continue;
    }
    if (!current) {
      if (keyword === 'ARG') continue;
      throw new Error(`Dockerfile line ${instruction.line}: ${keyword} before FROM`);
    }
    current.instructions.push(instruction);
    switch (keyword) {
      case 'WORKDIR':
        current.workdir = args.startsWith('/') ? args : `${current.workdir.replace(/\/$/, '')}/${args}`;
        break;
      case 'COPY': {
        const { flags, rest } = splitFlags(args);
        const parts = rest.startsWith('[') ? execForm(rest, instruction) : rest.split(/\s+/);
        if (parts.length < 2) throw new Error(`Dockerfile line ${instruction.line}: COPY needs a source and a destination`);
        current.copies.push({ sources: parts.slice(0, -1), dest: parts.at(-1)!, ...(flags.from !== undefined && { from: flags.from }) });
        break;
      }
      case 'RUN':
        current.runs.push(splitFlags(args).rest);
        break;
      case 'ENV':
        Object.assign(current.env, parseEnv(args));
        break;
      case 'USER':
        current.user = args;
        break;
      case 'EXPOSE':
        current.expose.push(...args.split(/\s+/).map((p) => Number.parseInt(p, 10)));
        break;
      case 'CMD':
        current.cmd = execForm(args, instruction);
        break;
      case 'ENTRYPOINT':
        current.entrypoint = execForm(args, instruction);
        break;
      case 'HEALTHCHECK': {
        const { rest } = splitFlags(args);
        const match = /^CMD\s+(.*)$/.exec(rest);
        if (!match) throw new Error(`Dockerfile line ${instruction.line}: HEALTHCHECK must be HEALTHCHECK [options] CMD [...]`);
        current.healthcheck = execForm(match[1]!, instruction);
        break;
      }
      default:
        break;
    }
  }
  return stages;
}

export function readDockerfile(path: string): Stage[] {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

/**
 * A .dockerignore matcher: patterns are matched against slash-separated paths relative to the
 * context, `*` within a segment, `**` across segments, `!` re-includes, the last match wins.
 */
export function createDockerignore(text: string): (relativePath: string) => boolean {
  const rules: Array<{ negate: boolean; regex: RegExp }> = [];
  for (let line of text.split('\n')) {
    line = line.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    line = line.replace(/^\/+/, '').replace(/\/+$/, '');
    let source = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (c === '*' && line[i + 1] === '*') {
        i++;
        if (line[i + 1] === '/') {
          i++;
          source += '(?:.*/)?';
        } else {
          source += '.*';
        }
      } else if (c === '*') source += '[^/]*';
      else if (c === '?') source += '[^/]';
      else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    rules.push({ negate, regex: new RegExp(`^${source}$`) });
  }
  // Like moby's patternmatcher: a rule matches a path when it matches the path or one of its parent
  // folders; rules apply in order, so the last matching rule decides.
  return (relativePath) => {
    const segments = relativePath.split('/').filter(Boolean);
    const candidates = segments.map((_, n) => segments.slice(0, n + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.negate;
    return excluded;
  };
}
