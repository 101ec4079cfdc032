// A gossip peer built on js-libp2p, an implementation of libp2p independent of the Rust one the
// project uses: it proves that a peer of another implementation, with the key type chosen,
// completes the handshake with a coordination node and gets a quote to it.
//
//   node peer.mjs <node multiaddr> <quote message, hex> <secp256k1 | ed25519>
//
// Prints one JSON line when started ({"peerId"}) and one when the quote was published
// ({"published": [peer ids]}); exits 1 with {"error"} if the quote reached no node within 20 s.

// Node.js before 22 has no Promise.withResolvers, which a dependency of js-libp2p uses; the
// modules are loaded after it is defined.
Promise.withResolvers ??= function withResolvers() {
  let resolve
  let reject
  const promise = new Promise((yes, no) => {
    resolve = yes
    reject = no
  })
  return { promise, resolve, reject }
}
const { gossipsub } = await import('@chainsafe/libp2p-gossipsub')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { generateKeyPair } = await import('@libp2p/crypto/keys')
const { identify } = await import('@libp2p/identify')
const { tcp } = await import('@libp2p/tcp')
const { multiaddr } = await import('@multiformats/multiaddr')
const { createLibp2p } = await import('libp2p')

const TOPIC = '/prover-coordination/epoch-proof-quotes/1'
const [address, messageHex, keyType] = process.argv.slice(2)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const privateKey = await generateKeyPair(keyType === 'ed25519' ? 'Ed25519' : 'secp256k1')
const peer = await createLibp2p({
  privateKey,
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), pubsub: gossipsub({ emitSelf: false }) },
})
console.log(JSON.stringify({ peerId: peer.peerId.toString() }))

try {
  await peer.dial(multiaddr(address))
  const deadline = Date.now() + 20_000
  while (peer.services.pubsub.getSubscribers(TOPIC).length === 0) {
    if (Date.now() > deadline) throw new Error('no node subscribed to the quote topic within 20 s')
    await sleep(50)
  }
  // A node seen subscribing may not have the stream from this peer open yet, and then the
  // message goes to no one: publish again until it is sent (a copy sent twice would be dropped by
  // the node, whose message ids come from the content).
  let recipients = []
  let lastError = 'sent to no peer'
  while (recipients.length === 0) {
    if (Date.now() > deadline) throw new Error(`the quote reached no node within 20 s (${lastError})`)
    ;({ recipients } = await peer.services.pubsub
      .publish(TOPIC, Buffer.from(messageHex, 'hex'))
      .catch((error) => {
        lastError = String(error)
        return { recipients: [] }
      }))
    if (recipients.length === 0) await sleep(50)
  }
  console.log(JSON.stringify({ published: recipients.map(String) }))
  // Give the message time to leave before the connection closes.
  await sleep(1_000)
} catch (error) {
  console.log(JSON.stringify({ error: String(error) }))
  process.exitCode = 1
} finally {
  await peer.stop()
}
