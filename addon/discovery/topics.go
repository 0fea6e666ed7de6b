package discovery

import (
	"regexp"
	"strings"

	"github.com/hookbridge/hookbridge/bridge/anomaly"
)

// Topics Home Assistant itself uses, and the payloads of availability.
const (
	// DiscoveryPrefix is Home Assistant's default discovery prefix.
	DiscoveryPrefix = "homeassistant"
	// HAStatusTopic is where Home Assistant announces itself: "online" when it (re)starts, so
	// every discovery config is published again then.
	HAStatusTopic = DiscoveryPrefix + "/status"
	// Online and Offline are the payloads of the availability topic.
	Online  = "online"
	Offline = "offline"
	// On and Off are the kill switch's command and state payloads: on means the vendor's webhooks
	// are taken.
	On  = "ON"
	Off = "OFF"
)

// Topics is the layout of Hookbridge's Home Assistant-facing topics under one topic prefix. Every
// state topic sits under a level that starts with "_", which can never be a vendor's name (vendor
// names are [a-z0-9-]), so a device allowed only some vendors' topics never sees them.
type Topics struct {
	// Prefix is the topic_prefix option.
	Prefix string
	// Node is the discovery node id: the prefix with anything outside [a-zA-Z0-9_-] replaced by
	// "_", so two Hookbridges with different prefixes on one broker do not overwrite each other.
	Node string
}

var nodeUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// NewTopics returns the layout for a topic prefix.
func NewTopics(prefix string) Topics {
	node := nodeUnsafe.ReplaceAllString(prefix, "_")
	if node == "" {
		node = "hookbridge"
	}
	return Topics{Prefix: prefix, Node: node}
}

// AvailabilityTopic returns the topic where Hookbridge says whether it runs: Online, retained, at
// start; Offline, retained, at a clean stop. A connection to an outside broker sets Offline on it
// as its will, so a crash shows too.
func AvailabilityTopic(prefix string) string { return prefix + "/_ha/availability" }

// Availability returns AvailabilityTopic(t.Prefix).
func (t Topics) Availability() string { return AvailabilityTopic(t.Prefix) }

// Status returns a vendor's status topic: a retained JSON object (see Status) with its kill switch
// state and counters.
func (t Topics) Status(vendor string) string { return t.Prefix + "/_status/" + vendor }

// SwitchCommand returns a vendor's kill switch command topic (payload On or Off). The broker lets
// only the homeassistant account publish there.
func (t Topics) SwitchCommand(vendor string) string { return t.Prefix + "/_switch/" + vendor + "/set" }

// SwitchCommandFilter matches every vendor's command topic.
func (t Topics) SwitchCommandFilter() string { return t.Prefix + "/_switch/+/set" }

// SwitchState returns a vendor's kill switch state topic: On or Off, retained.
func (t Topics) SwitchState(vendor string) string { return t.Prefix + "/_switch/" + vendor + "/state" }

// Alerts returns the topic where anomaly alerts are published as JSON objects: the same
// anomaly.AlertsTopic the publisher uses.
func (t Topics) Alerts() string { return t.Prefix + "/" + anomaly.AlertsTopic }

// Config returns the discovery config topic of one entity of this node.
func (t Topics) Config(component, object string) string {
	return DiscoveryPrefix + "/" + component + "/" + t.Node + "/" + object + "/config"
}

// ConfigFilter matches every discovery config topic of this node.
func (t Topics) ConfigFilter() string { return DiscoveryPrefix + "/+/" + t.Node + "/+/config" }

// vendorOf returns the vendor named by a kill switch command topic.
func (t Topics) vendorOf(command string) (string, bool) {
	rest, ok := strings.CutPrefix(command, t.Prefix+"/_switch/")
	if !ok {
		return "", false
	}
	vendor, ok := strings.CutSuffix(rest, "/set")
	return vendor, ok && validVendor(vendor)
}

// parseConfig returns the component and object id of one of this node's config topics.
func (t Topics) parseConfig(topic string) (component, object string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != DiscoveryPrefix || parts[2] != t.Node || parts[4] != "config" {
		return "", "", false
	}
	return parts[1], parts[3], true
}

var vendorName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func validVendor(s string) bool { return vendorName.MatchString(s) }
