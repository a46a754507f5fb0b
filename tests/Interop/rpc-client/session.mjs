// A Kubo user's program, run by tests/Interop/Daemon/KuboRpcClientTests.cs against two `bitswap daemon`s:
// node session.mjs <apiA> <apiB> <swarm multiaddr of A>
// It uses kubo-rpc-client exactly as documented and prints one JSON object with what it saw (and a log of the calls).
import './promise-with-resolvers.mjs'
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import net from 'node:net'

const [apiA, apiB, addrA] = process.argv.slice(2)
const a = create({ url: apiA })
const b = create({ url: apiB })
const log = []
const out = {}

function bytes (length, seed) {
  const data = new Uint8Array(length)
  let x = seed >>> 0
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    data[i] = x >>> 24
  }
  return data
}

async function concat (iterable) {
  const parts = []
  let length = 0
  for await (const part of iterable) { parts.push(part); length += part.length }
  const all = new Uint8Array(length)
  let offset = 0
  for (const part of parts) { all.set(part, offset); offset += part.length }
  return all
}

const equal = (x, y) => x.length === y.length && x.every((v, i) => v === y[i])
const note = (call, result) => { log.push(`${call} -> ${result}`) }

async function raw (api, path, init = {}) {
  const response = await fetch(`${api}/api/v0/${path}`, { method: 'POST', ...init })
  const text = await response.text()
  let json = null
  try { json = JSON.parse(text) } catch { }
  return { status: response.status, json, text }
}

// A request that announces a body larger than the daemon accepts, sending only its start (a client that streamed the
// whole body would see the connection reset once the daemon stops reading, before it could read the answer).
function oversized (api, path, length) {
  const { hostname, port } = new URL(api)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname)
    let text = ''
    socket.setTimeout(10000, () => { socket.destroy(); reject(new Error('timeout')) })
    socket.on('data', chunk => {
      text += chunk.toString()
      const split = text.indexOf('\r\n\r\n')
      if (split < 0) return
      const head = text.slice(0, split)
      const body = text.slice(split + 4)
      const match = /content-length: (\d+)/i.exec(head)
      const complete = match ? body.length >= Number(match[1]) : /\r\n0\r\n\r\n$/.test(body)
      if (complete) {
        socket.destroy()
        const status = Number(head.split(' ')[1])
        const json = body.split('\r\n').find(line => line.startsWith('{')) ?? ''
        resolve({ status, json: JSON.parse(json), text: json })
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`connection closed before a whole answer: ${text}`)))
    socket.write(`POST /api/v0/${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: ${length}\r\n\r\n--XYZ\r\n`)
  })
}

const id = await a.id()
out.id = id.id.toString()
out.addresses = id.addresses.map(String)
note('a.id()', `{ id: ${out.id}, addresses: [${out.addresses.join(', ')}] }`)

const version = await a.version()
out.version = version.version
note('a.version()', JSON.stringify(version))

// add then cat, byte-identical: Kubo's defaults (CIDv0, 256 KiB chunks), then CIDv1 with raw leaves and a progress callback.
const file1 = bytes(1_500_000, 1)
const added0 = await a.add(file1)
out.addV0 = added0.cid.toString()
note('a.add(1.5 MB)', `{ path: ${added0.path}, cid: ${added0.cid}, size: ${added0.size} }`)
out.catV0Equal = equal(await concat(a.cat(added0.cid)), file1)
note(`a.cat(${added0.cid})`, `${out.catV0Equal ? 'byte-identical' : 'DIFFERENT'}`)
let progressCalls = 0
const added1 = await a.add({ path: 'file1.bin', content: file1 }, { cidVersion: 1, rawLeaves: true, chunker: 'size-262144', progress: () => { progressCalls++ } })
out.addV1 = added1.cid.toString()
out.progressCalls = progressCalls
note('a.add({ path: file1.bin }, { cidVersion: 1, rawLeaves: true, chunker: size-262144, progress })', `{ cid: ${added1.cid}, size: ${added1.size} } after ${progressCalls} progress calls`)
out.catV1Equal = equal(await concat(a.cat(added1.cid)), file1)
const wrapped = await a.add({ path: 'hello.txt', content: new TextEncoder().encode('hello\n') }, { wrapWithDirectory: true, cidVersion: 1 })
out.wrapped = wrapped.cid.toString()
out.catWrapped = new TextDecoder().decode(await concat(a.cat(`/ipfs/${wrapped.cid}/hello.txt`)))
note('a.add(hello.txt, { wrapWithDirectory: true, cidVersion: 1 })', `${wrapped.cid}; a.cat(/ipfs/${wrapped.cid}/hello.txt) -> ${JSON.stringify(out.catWrapped)}`)
const listing = []
for await (const entry of a.ls(wrapped.cid)) listing.push(`${entry.name}:${entry.type}:${entry.size}`)
out.ls = listing
note(`a.ls(${wrapped.cid})`, JSON.stringify(listing))

// A folder tree through addAll (paths, and an empty folder), then a file inside it by path.
const tree = [
  { path: 'site/index.html', content: new TextEncoder().encode('<h1>hello</h1>\n') },
  { path: 'site/css/main.css', content: new TextEncoder().encode('h1 { color: red }\n') },
  { path: 'site/empty' }
]
const treeEntries = []
for await (const entry of a.addAll(tree, { cidVersion: 1 })) treeEntries.push(`${entry.path} ${entry.cid}`)
out.treeRoot = treeEntries.at(-1).split(' ')[1]
out.treeCss = new TextDecoder().decode(await concat(a.cat(`/ipfs/${out.treeRoot}/css/main.css`)))
note('a.addAll([site/index.html, site/css/main.css, site/empty], { cidVersion: 1 })', JSON.stringify(treeEntries))

// block put/get/stat/rm
const blockData = bytes(5000, 2)
const blockCid = await a.block.put(blockData)
out.blockPut = blockCid.toString()
out.blockGetEqual = equal(await a.block.get(blockCid), blockData)
out.blockStat = (await a.block.stat(blockCid)).size
const removed = []
for await (const r of a.block.rm(blockCid)) removed.push({ cid: r.cid.toString(), error: r.error?.message ?? null })
out.blockRm = removed
try {
  await a.block.stat(blockCid, { timeout: 300 })
  out.statAfterRm = 'found'
} catch (e) {
  out.statAfterRm = e.message
}
note(`a.block.put(5000 B) / get / stat / rm`, `${blockCid} / ${out.blockGetEqual ? 'identical' : 'DIFFERENT'} / ${out.blockStat} / ${JSON.stringify(removed)}; stat after rm: ${out.statAfterRm}`)

// dag export from A, import into B
const car = await concat(a.dag.export(added0.cid))
const roots = []
for await (const r of b.dag.import([car], { pinRoots: true })) roots.push(r.root.cid.toString())
out.dagImportRoots = roots
out.bHasAfterImport = (await b.block.stat(added0.cid, { timeout: 2000 })).size
// CAR export and import carry folders too: B (not yet connected to A) reads the tree from the imported blocks alone.
const treeCar = await concat(a.dag.export(CID.parse(out.treeRoot)))
for await (const r of b.dag.import([treeCar])) note(`a.dag.export(${out.treeRoot}) -> b.dag.import`, `${treeCar.length} CAR bytes, root ${r.root.cid}`)
out.treeIndexAtB = new TextDecoder().decode(await concat(b.cat(`/ipfs/${out.treeRoot}/index.html`, { timeout: 2000 })))
note(`a.dag.export(${added0.cid}) -> b.dag.import`, `${car.length} CAR bytes, roots ${JSON.stringify(roots)}`)

// Two daemons exchange a file after swarm.connect
const file2 = bytes(3_000_000, 3)
const added2 = await a.add(file2, { cidVersion: 1 })
const connected = await b.swarm.connect(addrA)
out.connect = connected
note(`b.swarm.connect(${addrA})`, JSON.stringify(connected))
const started = Date.now()
out.exchangeEqual = equal(await concat(b.cat(added2.cid)), file2)
note(`b.cat(${added2.cid}) (3 MB held only by A)`, `${out.exchangeEqual ? 'byte-identical' : 'DIFFERENT'} in ${Date.now() - started} ms`)
out.peersOfB = (await b.swarm.peers()).map(p => `${p.addr}/p2p/${p.peer}`)
out.peersOfA = (await a.swarm.peers()).map(p => p.peer.toString())
note('b.swarm.peers()', JSON.stringify(out.peersOfB))
const statB = await b.bitswap.stat()
out.statB = { blocksReceived: Number(statB.blocksReceived), dataReceived: Number(statB.dataReceived), peers: statB.peers.map(String) }
note('b.bitswap.stat()', JSON.stringify(out.statB))
const ledger = await raw(apiA, `bitswap/ledger?arg=${out.peersOfA[0] ?? ''}`)
out.ledgerA = ledger.json
note(`POST ${apiA}/api/v0/bitswap/ledger?arg=<B> (kubo-rpc-client has no ledger call)`, ledger.text.trim())

// bitswap.wantlist while a want is pending
const missing = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
const controller = new AbortController()
const pending = b.block.get(missing, { signal: controller.signal }).then(() => 'resolved', e => e.name)
let wantB = []
for (let i = 0; i < 50 && !wantB.includes(missing.toString()); i++) {
  await new Promise(resolve => setTimeout(resolve, 100))
  wantB = (await b.bitswap.wantlist()).map(String)
}
out.wantlistB = wantB
let wantOfB = []
for (let i = 0; i < 50 && !wantOfB.includes(missing.toString()); i++) {
  wantOfB = (await a.bitswap.wantlistForPeer(out.peersOfA[0])).map(String)
  if (!wantOfB.includes(missing.toString())) await new Promise(resolve => setTimeout(resolve, 100))
}
out.wantlistOfBAtA = wantOfB
note('b.bitswap.wantlist() while b.block.get(missing) waits', JSON.stringify(wantB))
note('a.bitswap.wantlistForPeer(B)', JSON.stringify(wantOfB))
controller.abort()
out.pendingEnded = await pending

// routing, stats, repo
const providers = []
for await (const event of a.routing.findProvs(added0.cid)) providers.push(event)
out.findProvs = providers.length
const bw = []
for await (const s of b.stats.bw()) bw.push({ totalIn: Number(s.totalIn), totalOut: Number(s.totalOut) })
out.bw = bw[0]
const repo = await a.repo.stat()
out.repo = { numObjects: Number(repo.numObjects), repoSize: Number(repo.repoSize) }
note('a.routing.findProvs / b.stats.bw() / a.repo.stat()', `${providers.length} events / ${JSON.stringify(out.bw)} / ${JSON.stringify(out.repo)}`)

// Bad input: each answer has Kubo's error shape, and the daemon keeps serving.
out.bad = {}
out.bad.origin = await raw(apiA, 'id', { headers: { Origin: 'https://evil.example.com' } })
out.bad.get = (await fetch(`${apiA}/api/v0/id`)).status
out.bad.unknown = await raw(apiA, 'no/such/command')
out.bad.cid = await raw(apiA, 'block/get?arg=notacid')
out.bad.multipart = await raw(apiA, 'add', { headers: { 'Content-Type': 'multipart/form-data; boundary=XYZ' }, body: '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nno closing boundary' })
out.bad.oversized = await oversized(apiA, 'block/put', 64 * 1024 * 1024)
for (const [name, r] of Object.entries(out.bad)) if (typeof r === 'object') note(`bad input: ${name}`, `${r.status} ${r.text.trim()}`)
out.stillServing = (await a.id()).id.toString() === out.id
try {
  await a.block.get(CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'), { timeout: 200 })
} catch (e) {
  out.clientError = e.message
}
note('a.block.get(missing, { timeout: 200 })', `throws "${out.clientError}"`)
out.log = log
console.log(JSON.stringify(out))
