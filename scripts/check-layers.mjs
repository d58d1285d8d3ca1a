#!/usr/bin/env node
// The layer rules of DESIGN.md §1, checked on the source tree (run by `npm run lint`):
//   1. no import cycle between the folders of src/lib (type-only imports count: they couple too);
//   2. nothing under src/lib except src/lib/cli imports src/lib/cli or '@oclif/core';
//   3. src/lib/core imports no other folder of src/lib (it is the bottom every layer may use);
//   4. no file in src/commands imports another file of src/commands;
//   5. every package src/ imports is declared in package.json "dependencies" (not only installed
//      as someone else's dependency, nor a devDependency the user's install leaves out).
// Usage: node scripts/check-layers.mjs [root]   (root defaults to the current directory)
// Exit 0 when the tree keeps the rules, 1 (naming the files) when it does not.
import {existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {builtinModules} from 'node:module'
import {dirname, join, relative, resolve, sep} from 'node:path'

const root = resolve(process.argv[2] ?? '.')
const LIB = join(root, 'src', 'lib')
const COMMANDS = join(root, 'src', 'commands')

function walk(dir, out = []) {
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, out)
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

// Static imports and re-exports (default, named over several lines, namespace), side-effect
// imports and dynamic import('…').
const SPECIFIERS = [
  /^[ \t]*(?:import|export)(?:[ \t]+type)?[ \t]*(?:\{[^}]*\}|\*(?:[ \t]+as[ \t]+\w+)?|\w+(?:[ \t]*,[ \t]*(?:\{[^}]*\}|\*[ \t]+as[ \t]+\w+))?)[ \t]*from[ \t]*['"]([^'"]+)['"]/gm,
  /^[ \t]*import[ \t]*['"]([^'"]+)['"]/gm,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
]

function importsOf(file) {
  const source = readFileSync(file, 'utf8')
  const found = []
  for (const pattern of SPECIFIERS) for (const match of source.matchAll(pattern)) found.push(match[1])
  return found
}

/** The file a relative specifier names ('./x.js' is ./x.ts in the sources), or undefined. */
function resolveRelative(from, specifier) {
  if (!specifier.startsWith('.')) return undefined
  const base = resolve(dirname(from), specifier)
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')]
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? base
}

const inside = (dir, path) => path === dir || path.startsWith(dir + sep)
const folderOf = (path) => relative(LIB, path).split(sep)[0]
const show = (path) => relative(root, path).split(sep).join('/')

const problems = []
/** folder -> folder -> files making that edge */
const edges = new Map()

for (const file of walk(LIB)) {
  const from = folderOf(file)
  for (const specifier of importsOf(file)) {
    if (from !== 'cli' && (specifier === '@oclif/core' || specifier.startsWith('@oclif/core/'))) {
      problems.push(`${show(file)}: imports '${specifier}' (only src/lib/cli and the commands may)`)
    }
    const target = resolveRelative(file, specifier)
    if (!target || !inside(LIB, target)) continue
    const to = folderOf(target)
    if (to === from) continue
    if (to === 'cli')
      problems.push(
        `${show(file)}: imports ${show(target)} (nothing under src/lib outside src/lib/cli imports src/lib/cli; use src/lib/core)`,
      )
    if (from === 'core') problems.push(`${show(file)}: imports ${show(target)} (src/lib/core imports no other folder of src/lib)`)
    if (!edges.has(from)) edges.set(from, new Map())
    const byTarget = edges.get(from)
    if (!byTarget.has(to)) byTarget.set(to, new Set())
    byTarget.get(to).add(show(file))
  }
}

for (const file of walk(COMMANDS)) {
  for (const specifier of importsOf(file)) {
    const target = resolveRelative(file, specifier)
    if (target && inside(COMMANDS, target))
      problems.push(`${show(file)}: imports the command ${show(target)} (shared code belongs in src/lib)`)
  }
}

const manifestFile = join(root, 'package.json')
const manifest = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : undefined
const declared = new Set(Object.keys(manifest?.dependencies ?? {}))
const builtins = new Set(builtinModules)
/** The package a bare specifier names ('@scope/name/sub' -> '@scope/name'), or undefined. */
function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) return undefined
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}
for (const file of manifest ? walk(join(root, 'src')) : []) {
  const source = readFileSync(file, 'utf8')
  for (const specifier of importsOf(file)) {
    const name = packageOf(specifier)
    if (!name || builtins.has(name) || declared.has(name)) continue
    // A type-only import is erased at build time: it needs no runtime dependency.
    const typeOnly = new RegExp(
      `^[ \\t]*(?:import|export)[ \\t]+type\\b[^;]*?from[ \\t]*['"]${specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}['"]`,
      'm',
    )
    if (typeOnly.test(source)) continue
    problems.push(`${show(file)}: imports '${specifier}', which package.json "dependencies" does not declare`)
  }
}

// Folder-level cycles: every strongly connected component of more than one folder (Tarjan).
const folders = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])])].sort()
let counter = 0
const index = new Map()
const low = new Map()
const stack = []
const onStack = new Set()
const components = []
function connect(v) {
  index.set(v, counter)
  low.set(v, counter)
  counter++
  stack.push(v)
  onStack.add(v)
  for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
    if (!index.has(w)) {
      connect(w)
      low.set(v, Math.min(low.get(v), low.get(w)))
    } else if (onStack.has(w)) {
      low.set(v, Math.min(low.get(v), index.get(w)))
    }
  }
  if (low.get(v) === index.get(v)) {
    const component = []
    let w
    do {
      w = stack.pop()
      onStack.delete(w)
      component.push(w)
    } while (w !== v)
    if (component.length > 1) components.push(component.sort())
  }
}
for (const folder of folders) if (!index.has(folder)) connect(folder)

for (const component of components) {
  const lines = [`import cycle between folders of src/lib: ${component.join(', ')}`]
  for (const a of component) {
    for (const [b, files] of edges.get(a) ?? []) {
      if (component.includes(b)) lines.push(`    ${a} -> ${b}: ${[...files].sort().join(' ')}`)
    }
  }
  problems.push(lines.join('\n'))
}

if (problems.length > 0) {
  console.error(`check-layers: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}`)
  process.exit(1)
}
console.log(`check-layers: ok (${folders.length} folders of src/lib, no cycle, no forbidden import)`)
