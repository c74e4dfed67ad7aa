// Bluesky's reference PDS for dropcast's tests (started by tests/fakes/pds.py).
//
// Starts @atproto/dev-env's TestNetworkNoAppView (the real PDS with an in-memory PLC
// directory, each on a free loopback port, SQLite and blobs under TMPDIR), creates the
// accounts the tests post as and mention, prints one JSON line saying where they are,
// and runs until its stdin closes or it is stopped.
'use strict'

const { TestNetworkNoAppView } = require('@atproto/dev-env')

const PASSWORD = 'hunter2-account-password'

async function createAccount(network, handle) {
  const agent = network.pds.getClient()
  const email = `${handle.split('.')[0]}@example.test`
  const { data } = await agent.createAccount({ email, handle, password: PASSWORD })
  // dropcast logs in with an app password, as the README tells its owners to.
  const app = await agent.com.atproto.server.createAppPassword({ name: 'dropcast' })
  return { handle, did: data.did, password: PASSWORD, app_password: app.data.password }
}

async function main() {
  const network = await TestNetworkNoAppView.create({})
  const alice = await createAccount(network, 'alice.test')
  const bob = await createAccount(network, 'bob.test')
  let closing = false
  const stop = async () => {
    if (closing) return
    closing = true
    await network.close()
    process.exit(0)
  }
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.stdin.resume()
  process.stdout.write(JSON.stringify({ dropcast_pds: network.pds.url, accounts: [alice, bob] }) + '\n')
}

main().catch((error) => {
  process.stderr.write(`start-pds: ${error.stack || error}\n`)
  process.exit(1)
})
