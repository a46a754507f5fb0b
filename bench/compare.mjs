// Compares transfers through the CLIs, in one run on one file: Helia → Helia, Helia → C#, C# → Helia and C# → C#.
// Each direction: a provider imports the file (same chunking, raw leaves, CIDv1, so every side has the same root CID),
// then a fresh fetcher process per run dials it and writes the file; one warm-up run, then the median of --runs.
// Times are taken as the Helia harness takes them: from the start of the dial to the last byte written.
// Usage (bench/compare.sh builds the CLI first): node bench/compare.mjs --cli PATH [--size-mib 64] [--chunk 262144]... [--runs 3]
// [--only 'C#>Helia']... (directions to run; Helia > Helia always runs, as the baseline of the ratios)
// [--cpu-prof DIR] (each Helia fetcher writes a V8 CPU profile there, `node --cpu-prof`: where a Helia receiver spends its time)
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const peerScript = resolve(here, '../tests/Interop/peer/peer.mjs')

function parseArgs (argv) {
  const options = { sizeMib: 64, chunks: [], runs: 3, cli: null, only: [], cpuProf: null }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    switch (argv[i]) {
      case '--size-mib': options.sizeMib = Number(value); i++; break
      case '--chunk': options.chunks.push(Number(value)); i++; break
      case '--runs': options.runs = Number(value); i++; break
      case '--cli': options.cli = value; i++; break
      case '--only': options.only.push(value); i++; break
      case '--cpu-prof': options.cpuProf = value; i++; break
      default: throw new Error(`unknown argument ${argv[i]}`)
    }
  }
  if (options.cli == null) throw new Error('--cli PATH to the published bitswap binary is required')
  if (options.chunks.length === 0) options.chunks = [262144, 1048576]
  return options
}

// A Helia peer (tests/Interop/peer/peer.mjs) driven by JSON lines.
async function startHelia (nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, peerScript], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const waiting = new Map()
  let nextId = 1
  let ready
  const readyLine = new Promise((resolve, reject) => { ready = { resolve, reject } })
  lines.on('line', line => {
    const message = JSON.parse(line)
    if (message.event === 'ready') { ready.resolve(message); return }
    const pending = waiting.get(message.id)
    if (pending == null) return
    waiting.delete(message.id)
    if (message.error != null) pending.reject(new Error(message.error)); else pending.resolve(message)
  })
  child.on('exit', code => ready.reject(new Error(`helia peer exited with ${code}`)))
  const hello = await readyLine
  return {
    multiaddr: hello.multiaddrs[0],
    call (cmd, args) {
      const id = nextId++
      child.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n')
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }))
    },
    async stop () {
      child.stdin.end()
      await new Promise(resolve => child.once('exit', resolve))
    }
  }
}

function run (file, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { err += d })
    child.on('exit', code => code === 0 ? resolve(out) : reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${err.trim()}`)))
  })
}

// `bitswap serve --repo R`: its first stdout line is JSON with the listen addresses.
async function startCsProvider (cli, repo) {
  const child = spawn(cli, ['serve', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', code => reject(new Error(`bitswap serve exited ${code}`)))
  })
  const hello = JSON.parse(first)
  return {
    multiaddr: hello.multiaddrs[0],
    async stop () {
      child.kill('SIGTERM')
      await new Promise(resolve => child.once('exit', resolve))
    }
  }
}

function sha256 (path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function main () {
  const options = parseArgs(process.argv.slice(2))
  const work = mkdtempSync(join(tmpdir(), 'bitswap-compare-'))
  try {
    const input = join(work, 'input.bin')
    writeFileSync(input, randomBytes(options.sizeMib * 1024 * 1024))
    const expected = sha256(input)
    const bytes = options.sizeMib * 1024 * 1024
    console.log(`${new Date().toISOString()}: ${options.sizeMib} MiB random file, 1 warm-up + ${options.runs} runs per direction; a fresh fetcher process per run`)
    const rows = []
    for (const chunk of options.chunks) {
      const results = {}
      for (const [from, to] of [['Helia', 'Helia'], ['Helia', 'C#'], ['C#', 'Helia'], ['C#', 'C#']]) {
        if (options.only.length > 0 && from + to !== 'HeliaHelia' && !options.only.includes(`${from}>${to}`)) continue
        const provider = from === 'Helia' ? await startHelia() : null
        let cid
        let served
        if (provider != null) {
          cid = (await provider.call('import', { path: input, profile: 'unixfs-v1-2025', chunkSize: chunk })).cid
          served = provider
        } else {
          const repo = join(work, `repo-${chunk}`)
          rmSync(repo, { recursive: true, force: true })
          cid = (await run(options.cli, ['add', input, '--chunk-size', String(chunk), '--repo', repo])).trim().split('\n').pop().trim()
          served = await startCsProvider(options.cli, repo)
        }
        const samples = []
        for (let i = 0; i <= options.runs; i++) {
          const output = join(work, `out-${i}.bin`)
          rmSync(output, { force: true })
          let timing
          if (to === 'Helia') {
            const fetcher = await startHelia(options.cpuProf == null ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`])
            try {
              timing = await fetcher.call('fetch', { multiaddr: served.multiaddr, cid, path: output })
            } finally {
              await fetcher.stop()
            }
          } else {
            const summary = await run(options.cli, ['get', cid, '--peer', served.multiaddr, '-o', output, '--json'])
            timing = JSON.parse(summary.trim().split('\n').pop())
          }
          if (sha256(output) !== expected) throw new Error(`${from} → ${to}: the fetched file differs from the input`)
          rmSync(output, { force: true })
          if (i > 0) samples.push(timing)
          process.stdout.write(`  ${chunk / 1024} KiB ${from} → ${to} run ${i === 0 ? 'warm-up' : i}: ${timing.ms.toFixed(0)} ms (dial ${Number(timing.dialMs).toFixed(0)} ms, first block ${Number(timing.firstBlockMs).toFixed(0)} ms)\n`)
        }
        await served.stop()
        const ms = median(samples.map(s => s.ms))
        results[`${from} → ${to}`] = { ms, mbps: bytes / 1e6 / (ms / 1000), first: median(samples.map(s => Number(s.firstBlockMs))) }
      }
      const base = results['Helia → Helia'].mbps
      for (const [direction, r] of Object.entries(results)) {
        rows.push(`| ${chunk / 1024} KiB | ${direction} | ${r.ms.toFixed(0)} | ${r.mbps.toFixed(1)} | ${r.first.toFixed(0)} | ${(r.mbps / base).toFixed(2)}× |`)
      }
    }
    console.log()
    console.log('| chunks | direction | ms (median) | MB/s | first block ms | vs Helia → Helia |')
    console.log('|---|---|---|---|---|---|')
    for (const row of rows) console.log(row)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
