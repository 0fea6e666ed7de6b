package verify

// slack: Slack's request signing ("Verifying requests from Slack", docs.slack.dev): X-Slack-Signature
// is "v0=" and the hex HMAC-SHA256 of "v0:" + X-Slack-Request-Timestamp + ":" + the raw body (JSON
// for the Events API, a form for slash commands and interactivity), keyed by the Signing Secret's
// bytes (not hex-decoded); the timestamp is Unix seconds, checked within 5 minutes either way.
// Nothing but the body identifies an event: the Events API's event_id is in it (event.id), and a
// retry may carry a fresh timestamp, so replays are keyed by the body, never the signed string.
func init() {
	registerRecipe("slack", "Slack: X-Slack-Signature v0= hex HMAC-SHA256 of v0:timestamp:body", Recipe{
		Signed:       "v0:{timestamp}:{body}",
		MAC:          "hmac-sha256",
		Key:          "raw",
		senderIssued: true,
		Signature:    SignatureSpec{Header: "X-Slack-Signature", Encoding: "hex", Prefix: "v0="},
		Timestamp:    &TimestampSpec{Header: "X-Slack-Request-Timestamp", Unit: "seconds"},
	})
}
