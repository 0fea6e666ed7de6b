// Package e2e holds Hookbridge's end-to-end tests, black-box: they start the bridge with
// bridge/bridgetest (in the test process on loopback ports, or the real binary as a child
// process) and drive it from outside, over HTTP, MQTT, the admin API and the command line. What
// they need of a running instance's internals comes only through bridge/app's accessors.
//
// The tests are in package e2e_test, by subject:
//
//   - status, acl, durability, golden, privacy: the partner HTTP contract row by row, device
//     ACLs, restarts and retention, the golden files under testdata/golden (go test -update
//     rewrites them from what the bridge does now), and identifiers that must never leave the
//     process in clear.
//   - hostile_*: hostile HTTP requests, slow clients, floods, spoofed sources and malformed MQTT,
//     each with a log canary; FuzzHandler drives the partner handler without the network
//     (scripts/fuzz runs it).
//   - ha_*, bridge, uplink: Home Assistant discovery, the status page in headless Chromium
//     (chromedp; screenshots go to artifacts/), the MQTT bridge and the outside-broker modes
//     against a real Mosquitto (bridge/uplink/mosquittotest).
//   - ops_*: audit trail, incidents and quarantine, inventory, metrics.
//   - crash: TestCrashDurability and TestSIGTERMUnderLoad against the real binary.
//   - device_side, admin_rebinding, partner_side: issue 12's findings (a hostile device account,
//     DNS rebinding, replay keys and rate budgets), against the real binary with options and
//     policies 0.1.0 accepts too, so that HOOKBRIDGE_BINARY=/path/to/hookbridge-0.1.0 runs them
//     against that release (where each fails). device_beyond: other ways a client could make
//     the broker publish, hold resources or stall publishing (a device that stops reading).
//   - senders_sign: each real sender's signature (the named recipes and a policy's own recipe)
//     against the real binary, with the test catalog testdata/catalog/senders; public_url as the
//     only source of a signed URL; `hookbridge send` playing every sender.
//   - pipeline_bench: BenchmarkPipeline, whole webhooks through the partner handler.
//
// They need Mosquitto (with /usr/sbin on PATH) and Chromium: scripts/test installs both.
package e2e
