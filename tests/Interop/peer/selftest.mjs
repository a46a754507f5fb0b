// Self-test of the interop peer: starts two peers and scripts them over the JSON-line protocol.
// Run: node selftest.mjs   (after npm ci). Prints each step with its duration; exits non-zero on a failed check.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

const here = new URL('.', import.meta.url).pathname

function startPeer (name) {
  const started = Date.now()
  const child = spawn(process.execPath, [join(here, 'peer.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const waiting = new Map()
  let nextId = 1
  let onReady
  const ready = new Promise(resolve => { onReady = resolve })
  createInterface({ input: child.stdout }).on('line', line => {
    const msg = JSON.parse(line)
    if (msg.event === 'ready') { onReady(msg); return }
    waiting.get(msg.id)?.(msg)
    waiting.delete(msg.id)
  })
  const call = (cmd, args = {}) => new Promise(resolve => {
    const id = nextId++
    waiting.set(id, resolve)
    child.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n')
  })
  const exited = new Promise(resolve => child.on('exit', resolve))
  return { name, child, call, exited, ready: ready.then(r => ({ ...r, startupMs: Date.now() - started })) }
}

let failures = 0
function check (label, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail != null ? ' ' + JSON.stringify(detail) : ''}`)
  if (!ok) failures++
}

const dir = await mkdtemp(join(tmpdir(), 'peer-selftest-'))
const a = startPeer('A')
const b = startPeer('B')
try {
  const [readyA, readyB] = await Promise.all([a.ready, b.ready])
  console.log(`startup A ${readyA.startupMs} ms, B ${readyB.startupMs} ms`)

  const put = await a.call('put', { data: Buffer.from('hello world').toString('base64'), codec: 'raw' })
  check('put gives the known raw CID', put.cid === 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e', put)

  const dial = await b.call('dial', { multiaddr: readyA.multiaddrs[0] })
  check('B dials A', dial.ok === true && dial.peerId === readyA.peerId, dial)

  let t = Date.now()
  const got = await b.call('get', { cid: put.cid, timeoutMs: 10000 })
  check(`B fetches A's block over bitswap (${Date.now() - t} ms)`, Buffer.from(got.data ?? '', 'base64').toString() === 'hello world', got)

  const missing = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
  const pendingGet = b.call('get', { cid: missing, timeoutMs: 3000 })
  await new Promise(resolve => setTimeout(resolve, 1000))
  const seen = await a.call('wantlist', { peerId: readyB.peerId })
  check("A's ledger shows B's want", seen.cids?.includes(missing), seen)
  const own = await b.call('wantlist')
  check("B's own wantlist holds the want", own.cids?.includes(missing), own)
  const failed = await pendingGet
  check('a missing block is an error answer', typeof failed.error === 'string', failed)

  const content = randomBytes(300 * 1024 + 7)
  await writeFile(join(dir, 'file.bin'), content)
  t = Date.now()
  const imported = await a.call('import', { path: join(dir, 'file.bin'), profile: 'unixfs-v0-2015' })
  check(`import (${Date.now() - t} ms)`, typeof imported.cid === 'string', imported)
  t = Date.now()
  const cat = await b.call('cat', { cid: imported.cid, timeoutMs: 20000 })
  check(`B cats A's file over bitswap (${Date.now() - t} ms)`, Buffer.from(cat.data ?? '', 'base64').equals(content), { error: cat.error })

  const carPath = join(dir, 'file.car')
  const exported = await a.call('car-export', { cid: imported.cid, path: carPath })
  check('car-export', exported.ok === true, exported)
  const carBytes = await readFile(carPath)
  const c = startPeer('C')
  await c.ready
  const carImport = await c.call('car-import', { path: carPath })
  check('car-import reads the CAR root and 3 blocks', carImport.roots?.[0] === imported.cid && carImport.cids?.length === 3, carImport)
  const offline = await c.call('cat', { cid: imported.cid, offline: true })
  check(`C cats the imported CAR offline (${carBytes.length} bytes of CAR)`, Buffer.from(offline.data ?? '', 'base64').equals(content), { error: offline.error })
  await c.call('stop')
  await c.exited

  const bad = await a.call('no-such-command')
  check('unknown command is an error answer', typeof bad.error === 'string', bad)
} finally {
  for (const p of [a, b]) {
    p.child.stdin.write(JSON.stringify({ id: 0, cmd: 'stop' }) + '\n')
  }
  await Promise.all([a.exited, b.exited])
  await rm(dir, { recursive: true, force: true })
}
console.log(failures === 0 ? 'selftest passed' : `selftest: ${failures} failed`)
process.exit(failures === 0 ? 0 : 1)
