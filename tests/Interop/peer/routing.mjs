// A delegated routing server for the C# interop tests: @helia/delegated-routing-v1-http-api-server over a routing
// stub that returns the records a test sets, driven by JSON lines like peer.mjs.
// stdout: {"event":"ready","url":"http://127.0.0.1:PORT"}, then one answer per command (carrying its "id").
// Commands:
//   {"cmd":"providers","cid":C,"providers":[{"id":P,"addrs":[...]}]}  records /routing/v1/providers/C answers
//   {"cmd":"peer","peerId":P,"addrs":[...]}                             the record /routing/v1/peers/P answers
//   {"cmd":"raw","cid":C,"status":N,"contentType":T,"body":B}           answer /routing/v1/providers/C with exactly this
//   {"cmd":"requests"}                                                   {requests:[...]} every URL asked so far
//   {"cmd":"stop"}
import './promise-with-resolvers.mjs'
import { createInterface } from 'node:readline'
import { createDelegatedRoutingV1HttpApiServer } from '@helia/delegated-routing-v1-http-api-server'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import fastify from 'fastify'
import { CID } from 'multiformats/cid'

const providers = new Map() // CID (v1 text) → [{id, addrs}]
const peers = new Map() // peer ID text → addrs
const raw = new Map() // CID (v1 text) → {status, contentType, body}
const requests = []

function send (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function notFound () {
  const err = new Error('not found')
  err.name = 'NotFoundError'
  return err
}

// What the server calls: a Helia-like object whose routing yields fixed records.
const helia = {
  routing: {
    async * findProviders (cid) {
      for (const p of providers.get(cid.toV1().toString()) ?? []) {
        yield { id: peerIdFromString(p.id), multiaddrs: p.addrs.map(a => multiaddr(a)) }
      }
    },
    async findPeer (peerId) {
      const addrs = peers.get(peerId.toString())
      if (addrs == null) throw notFound()
      return { id: peerId, multiaddrs: addrs.map(a => multiaddr(a)) }
    }
  }
}

const app = fastify()
app.addHook('onRequest', async (request, reply) => {
  requests.push(request.url)
  const match = /^\/routing\/v1\/providers\/([^/?]+)/.exec(request.url)
  if (match == null) return
  let key
  try { key = CID.parse(match[1]).toV1().toString() } catch { return }
  const answer = raw.get(key)
  if (answer == null) return
  reply.code(answer.status ?? 200)
  if (answer.contentType != null) reply.header('Content-Type', answer.contentType)
  return reply.send(answer.body ?? '')
})
const server = await createDelegatedRoutingV1HttpApiServer(helia, { fastify: app, listen: { host: '127.0.0.1', port: 0 } })
const address = server.server.address()
send({ event: 'ready', url: `http://127.0.0.1:${address.port}` })

const handlers = {
  providers (cmd) {
    providers.set(CID.parse(cmd.cid).toV1().toString(), cmd.providers ?? [])
    return { ok: true }
  },
  peer (cmd) {
    peers.set(peerIdFromString(cmd.peerId).toString(), cmd.addrs ?? [])
    return { ok: true }
  },
  raw (cmd) {
    raw.set(CID.parse(cmd.cid).toV1().toString(), { status: cmd.status, contentType: cmd.contentType, body: cmd.body })
    return { ok: true }
  },
  requests () {
    return { requests }
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
async function stop () {
  setTimeout(() => process.exit(0), 2000).unref()
  await server.close()
  process.exit(0)
}
lines.on('line', line => {
  if (line.trim() === '') return
  let cmd
  try { cmd = JSON.parse(line) } catch (err) { send({ id: null, error: `bad JSON: ${err.message}` }); return }
  if (cmd?.cmd === 'stop') { send({ id: cmd.id ?? null, ok: true }); stop(); return }
  const handler = handlers[cmd?.cmd]
  if (handler == null) { send({ id: cmd?.id ?? null, error: `unknown command ${cmd?.cmd}` }); return }
  try { send({ id: cmd.id ?? null, ...handler(cmd) }) } catch (err) { send({ id: cmd.id ?? null, error: `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}` }) }
})
lines.on('close', () => { stop() })
