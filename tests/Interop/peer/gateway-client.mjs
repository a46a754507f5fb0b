// A Helia client of a trustless HTTP gateway for the C# interop tests: @helia/trustless-gateway-client's block broker
// (the trustless-gateway broker Helia 7 uses) with a router that names the gateway under test, driven by JSON lines.
// stdout: {"event":"ready"}, then one answer per command (carrying its "id").
// Commands:
//   {"cmd":"cat","cid":C,"gateway":"http://127.0.0.1:PORT/","path":P?}  {size, sha256} of the UnixFS file (written to P if given)
//   {"cmd":"stop"}
import './promise-with-resolvers.mjs'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { trustlessGatewayBlockBroker } from '@helia/trustless-gateway-client'
import { unixfs } from '@helia/unixfs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { MemoryDatastore } from 'datastore-core/memory'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

function send (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const gatewayPeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

// The only provider of everything: the gateway the command names, as an /http multiaddr.
function fixedGatewayRouter (url) {
  const address = multiaddr(`/ip4/${url.hostname}/tcp/${url.port}/http`)
  return {
    name: 'fixed-gateway',
    async * findProviders () {
      yield { id: gatewayPeer, multiaddrs: [address], routing: 'fixed-gateway' }
    }
  }
}

const handlers = {
  async cat (cmd) {
    const helia = createHeliaLight({
      blockstore: new MemoryBlockstore(),
      datastore: new MemoryDatastore(),
      routers: [fixedGatewayRouter(new URL(cmd.gateway))],
      blockBrokers: [trustlessGatewayBlockBroker({ allowInsecure: true, allowLocal: true })]
    })
    await helia.start()
    try {
      const chunks = []
      for await (const chunk of unixfs(helia).cat(CID.parse(cmd.cid), { signal: AbortSignal.timeout(cmd.timeoutMs ?? 60000) })) chunks.push(chunk)
      const bytes = Buffer.concat(chunks)
      if (cmd.path != null) await writeFile(cmd.path, bytes)
      return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
    } finally {
      await helia.stop()
    }
  }
}

send({ event: 'ready' })
const pending = new Set()
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
lines.on('line', line => {
  if (line.trim() === '') return
  let cmd
  try { cmd = JSON.parse(line) } catch (err) { send({ id: null, error: `bad JSON: ${err.message}` }); return }
  if (cmd?.cmd === 'stop') {
    Promise.allSettled(pending).then(() => { send({ id: cmd.id ?? null, ok: true }); process.exit(0) })
    return
  }
  const handler = handlers[cmd?.cmd]
  if (handler == null) { send({ id: cmd?.id ?? null, error: `unknown command ${cmd?.cmd}` }); return }
  const job = handler(cmd)
    .then(answer => send({ id: cmd.id ?? null, ...answer }))
    .catch(err => send({ id: cmd.id ?? null, error: `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}` }))
    .finally(() => pending.delete(job))
  pending.add(job)
})
lines.on('close', () => { Promise.allSettled(pending).then(() => process.exit(0)) })
