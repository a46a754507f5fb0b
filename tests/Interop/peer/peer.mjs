// A Helia node for the C# interop tests, driven by JSON lines.
// stdout: one JSON object per line (first {"event":"ready",...}, then one answer per command, carrying its "id").
// stdin: one JSON command per line. Diagnostics go to stderr only. Errors are answers, never crashes.
import './promise-with-resolvers.mjs'
import { createReadStream } from 'node:fs'
import { open, readFile, readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { withBitswap } from '@helia/bitswap'
import { car } from '@helia/car'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { CarReader, CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { MemoryDatastore } from 'datastore-core/memory'
import { createHeliaLight } from 'helia'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

const DAG_PB = 0x70

function send (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(args.join(' ') + '\n')
}

// PEER_KEY_TYPE picks the libp2p identity's key type (Ed25519, RSA, secp256k1 or ECDSA; @libp2p/crypto generates it).
// Unset: libp2p's default, Ed25519. RSA keys have 2048 bits, ECDSA keys are on P-256.
const KEY_TYPES = { Ed25519: () => generateKeyPair('Ed25519'), RSA: () => generateKeyPair('RSA', 2048), secp256k1: () => generateKeyPair('secp256k1'), ECDSA: () => generateKeyPair('ECDSA', 'P-256') }
const keyType = process.env.PEER_KEY_TYPE
if (keyType != null && keyType !== '' && KEY_TYPES[keyType] == null) {
  log(`unknown PEER_KEY_TYPE ${keyType}`)
  process.exit(2)
}
const privateKey = keyType != null && keyType !== '' ? await KEY_TYPES[keyType]() : undefined

const helia = withBitswap(withLibp2pLight(createHeliaLight({
  blockstore: new MemoryBlockstore(),
  datastore: new MemoryDatastore(),
  routers: [],
  blockBrokers: []
}), {
  ...(privateKey != null ? { privateKey } : {}),
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  services: { identify: identify(), ping: ping() }
}))

await helia.start()
const libp2p = helia.libp2p
const bitswap = helia.blockBrokers.find(b => b.name === 'bitswap')?.bitswap
if (bitswap == null) {
  log('bitswap block broker missing after start')
  process.exit(2)
}
const fs = unixfs(helia)

// interface-blockstore 7 streams a block's bytes as chunks; older stores return one Uint8Array.
async function bytesOf (value) {
  const resolved = await value
  if (resolved instanceof Uint8Array) return resolved
  const chunks = []
  for await (const chunk of resolved) chunks.push(chunk)
  return Buffer.concat(chunks)
}

function cidsOf (entries) {
  return (entries ?? []).map(e => e.cid.toString()).sort()
}

function entriesOf (entries) {
  return (entries ?? [])
    .map(e => ({ cid: e.cid.toString(), priority: e.priority, wantType: e.wantType === 'WantHave' || e.wantType === 1 ? 'have' : 'block', ...(e.status != null ? { status: e.status } : {}) }))
    .sort((a, b) => a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0)
}

// IPIP-499 profiles, as ipfs-unixfs-importer 17 defines them: explicit options override the profile's defaults.
function importOptions (cmd) {
  const profile = cmd.profile ?? 'unixfs-v1-2025'
  const defaults = profile === 'unixfs-v0-2015'
    ? { chunkSize: 262144, maxLinks: 174, cidVersion: 0, rawLeaves: false }
    : profile === 'unixfs-v1-2025'
      ? { chunkSize: 1048576, maxLinks: 1024, cidVersion: 1, rawLeaves: true }
      : null
  if (defaults == null) throw new Error(`unknown profile ${profile}`)
  return {
    cidVersion: cmd.cidVersion ?? defaults.cidVersion,
    rawLeaves: cmd.rawLeaves ?? defaults.rawLeaves,
    chunker: fixedSize({ chunkSize: cmd.chunkSize ?? defaults.chunkSize }),
    layout: balanced({ maxChildrenPerNode: cmd.maxLinks ?? defaults.maxLinks }),
    reduceSingleLeafToSelf: true
  }
}

function signalOf (cmd, fallbackMs) {
  return AbortSignal.timeout(cmd.timeoutMs ?? fallbackMs)
}

const handlers = {
  async put (cmd) {
    const bytes = Buffer.from(cmd.data ?? '', 'base64')
    const codec = cmd.codec ?? 'raw'
    if (codec !== 'raw' && codec !== 'dag-pb') throw new Error(`unknown codec ${codec}`)
    const digest = await sha256.digest(bytes)
    const version = cmd.cidVersion ?? (codec === 'raw' ? 1 : 0)
    if (codec === 'raw' && version === 0) throw new Error('CIDv0 is dag-pb only')
    const cid = CID.create(version, codec === 'raw' ? raw.code : DAG_PB, digest)
    await helia.blockstore.put(cid, bytes)
    return { cid: cid.toString() }
  },
  async get (cmd) {
    const cid = CID.parse(cmd.cid)
    const bytes = await bytesOf(helia.blockstore.get(cid, { signal: signalOf(cmd, 10000) }))
    return { data: Buffer.from(bytes).toString('base64') }
  },
  async has (cmd) {
    return { has: await helia.blockstore.has(CID.parse(cmd.cid)) }
  },
  async dial (cmd) {
    const conn = await libp2p.dial(multiaddr(cmd.multiaddr), { signal: signalOf(cmd, 10000) })
    return { ok: true, peerId: conn.remotePeer.toString() }
  },
  async hangup (cmd) {
    await libp2p.hangUp(peerIdFromString(cmd.peerId))
    return { ok: true }
  },
  async wantlist (cmd) {
    if (cmd.peerId != null) {
      const entries = bitswap.getPeerWantlist(peerIdFromString(cmd.peerId))
      return { cids: cidsOf(entries), entries: entriesOf(entries) }
    }
    const entries = bitswap.getWantlist()
    return { cids: cidsOf(entries), entries: entriesOf(entries) }
  },
  async peers () {
    return { peers: libp2p.getPeers().map(p => p.toString()).sort() }
  },
  async protocols (cmd) {
    const peer = await libp2p.peerStore.get(peerIdFromString(cmd.peerId))
    return { protocols: [...peer.protocols].sort() }
  },
  async import (cmd) {
    const cid = await fs.addByteStream(createReadStream(cmd.path), importOptions(cmd))
    return { cid: cid.toString() }
  },
  // A folder tree through @helia/unixfs addAll (ipfs-unixfs-importer) with the profile's options; hidden names skipped.
  async importDir (cmd) {
    const top = basename(cmd.path)
    async function * walk (dir, rel) {
      const entries = (await readdir(dir, { withFileTypes: true })).filter(e => !e.name.startsWith('.'))
      if (entries.length === 0) yield { path: rel }
      for (const e of entries) {
        if (e.isDirectory()) yield * walk(join(dir, e.name), `${rel}/${e.name}`)
        else yield { path: `${rel}/${e.name}`, content: createReadStream(join(dir, e.name)) }
      }
    }
    let root
    for await (const entry of fs.addAll(walk(cmd.path, top), { ...importOptions(cmd), profile: cmd.profile ?? 'unixfs-v1-2025' })) {
      if (entry.path === top) root = entry.cid
    }
    return { cid: root.toString() }
  },
  async cat (cmd) {
    const chunks = []
    for await (const chunk of fs.cat(CID.parse(cmd.cid), { signal: signalOf(cmd, 30000), offline: cmd.offline === true })) {
      chunks.push(chunk)
    }
    const bytes = Buffer.concat(chunks)
    if (cmd.path != null) {
      const file = await open(cmd.path, 'w')
      try { await file.write(bytes) } finally { await file.close() }
      return { size: bytes.length }
    }
    return { data: bytes.toString('base64') }
  },
  // Dials a provider and writes the file under `cid` to `path` as it streams in, timing it the way `bitswap get --json`
  // does: from the start of the dial to the last byte written (bench/compare.mjs compares the two).
  async fetch (cmd) {
    const signal = signalOf(cmd, 300000)
    const started = performance.now()
    await libp2p.dial(multiaddr(cmd.multiaddr), { signal })
    const dialMs = performance.now() - started
    let firstBlockMs = null
    let size = 0
    const file = await open(cmd.path, 'w')
    try {
      for await (const chunk of fs.cat(CID.parse(cmd.cid), { signal })) {
        firstBlockMs ??= performance.now() - started
        await file.write(chunk)
        size += chunk.length
      }
    } finally {
      await file.close()
    }
    return { ms: performance.now() - started, dialMs, firstBlockMs, size }
  },
  // @helia/car 6.0.5's export never finishes here (its graph walker's queue generator does not end), so the
  // CAR is written with @ipld/car's CarWriter over a depth-first, link-order, de-duplicated walk, like
  // `ipfs dag export`.
  async 'car-export' (cmd) {
    const root = CID.parse(cmd.cid)
    const signal = signalOf(cmd, 30000)
    const { writer, out } = CarWriter.create([root])
    const file = await open(cmd.path, 'w')
    const drained = (async () => { for await (const chunk of out) await file.write(chunk) })()
    try {
      const seen = new Set()
      const stack = [root]
      while (stack.length > 0) {
        const cid = stack.pop()
        const key = cid.multihash.bytes.join(',')
        if (seen.has(key)) continue
        seen.add(key)
        const bytes = await bytesOf(helia.blockstore.get(cid, { signal }))
        await writer.put({ cid, bytes })
        if (cid.code === DAG_PB) {
          const links = dagPb.decode(bytes).Links
          for (let i = links.length - 1; i >= 0; i--) stack.push(links[i].Hash)
        }
      }
    } finally {
      await writer.close()
      await drained
      await file.close()
    }
    return { ok: true }
  },
  async 'car-import' (cmd) {
    const reader = await CarReader.fromBytes(await readFile(cmd.path))
    const roots = (await reader.getRoots()).map(c => c.toString())
    const cids = []
    for await (const cid of reader.cids()) cids.push(cid.toString())
    await car(helia).import(reader, { signal: signalOf(cmd, 30000) })
    return { roots, cids }
  },
}

send({
  event: 'ready',
  peerId: libp2p.peerId.toString(),
  keyType: libp2p.peerId.type,
  multiaddrs: libp2p.getMultiaddrs().map(ma => ma.toString())
})

let stopping = false
const pending = new Set()

async function shutdown (code) {
  if (stopping) return
  stopping = true
  await Promise.allSettled(pending)
  // libp2p's stop can wait on open connections; never let it keep the process alive.
  setTimeout(() => { log('forced exit'); process.exit(code) }, 3000).unref()
  try { await helia.stop() } catch (err) { log('stop failed:', err?.message ?? err) }
  process.exit(code)
}

async function run (cmd) {
  const id = cmd?.id ?? null
  const handler = handlers[cmd?.cmd]
  if (handler == null) {
    send({ id, error: `unknown command ${cmd?.cmd}` })
    return
  }
  try {
    send({ id, ...(await handler(cmd)) })
  } catch (err) {
    send({ id, error: `${err?.name ?? "Error"}: ${err?.message ?? String(err)}` })
    if (process.env.PEER_DEBUG) log(err?.stack ?? err)
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
lines.on('line', line => {
  if (line.trim() === '' || stopping) return
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    send({ id: null, error: `bad JSON: ${err.message}` })
    return
  }
  if (cmd?.cmd === 'stop') {
    // Answer "stop" only after every earlier command has answered, then exit.
    shutdown(0)
    Promise.allSettled(pending).then(() => send({ id: cmd.id ?? null, ok: true }))
    return
  }
  const job = run(cmd).finally(() => pending.delete(job))
  pending.add(job)
})
lines.on('close', () => { shutdown(0) })
process.on('unhandledRejection', err => log('unhandled rejection:', err?.stack ?? err))
process.on('uncaughtException', err => log('uncaught exception:', err?.stack ?? err))
