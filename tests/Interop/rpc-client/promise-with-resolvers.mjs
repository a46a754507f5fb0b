// Node 20 lacks Promise.withResolvers (added in Node 22), which current libp2p and Helia releases call.
// Imported first by peer.mjs so every later module sees it.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
