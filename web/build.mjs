#!/usr/bin/env node
// Builds the web assets `mlfaas serve` serves: Tailwind CSS compiled from the pages, the pages and scripts, and
// Chart.js copied from node_modules, into one folder (default ../build/web). Nothing is fetched at run time.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.indexOf('--out');
const out = resolve(outArg > 0 ? process.argv[outArg + 1] : join(here, '..', 'build', 'web'));
const modules = join(here, 'node_modules');
if (!existsSync(join(modules, 'tailwindcss')) || !existsSync(join(modules, 'chart.js'))) {
  console.error('web: node_modules missing; run `npm ci` in web/ (tools/setup.sh does this)');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
execFileSync(process.execPath, [join(modules, 'tailwindcss', 'lib', 'cli.js'), '-c', join(here, 'tailwind.config.cjs'),
  '-i', join(here, 'src', 'input.css'), '-o', join(out, 'app.css'), '--minify'], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] });
for (const f of readdirSync(join(here, 'src'))) {
  if (f.endsWith('.html') || f.endsWith('.js') || f.endsWith('.svg')) cpSync(join(here, 'src', f), join(out, f));
}
cpSync(join(modules, 'chart.js', 'dist', 'chart.umd.js'), join(out, 'chart.umd.js'));
console.log(`web: assets written to ${out}`);
