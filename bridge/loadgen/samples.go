// Package loadgen is Hookbridge's load generator. It sends signed sample webhooks over keep-alive
// HTTP/1.1 connections, either as fast as a number of connections allows or at a fixed rate; it
// follows each event to the MQTT subscribers that receive it; it holds idle device connections;
// and it reads a process's CPU time and memory. `hookbridge bench` drives it.
package loadgen

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hookbridge/hookbridge/bridge/pseudo"
)

// Sample builds one vendor's webhooks: bodies shaped like the vendor's sample payload (the same
// fields, personal data included, so minimization and pseudonymization do their real work), each
// unique, and the marker by which a subscriber recognizes the event in a published message.
type Sample struct {
	Vendor string
	// Field is the published payload field whose value is the marker.
	Field string
	// build appends the body for event seq of run to dst, and returns the event id and the marker.
	build func(dst []byte, run string, seq uint64, now time.Time) (body []byte, id, marker string)
}

// Build appends the body of event seq of a run to dst and returns it with the event id and marker.
func (s *Sample) Build(dst []byte, run string, seq uint64, now time.Time) (body []byte, id, marker string) {
	return s.build(dst, run, seq, now)
}

// SampleVendors lists the vendors that have a sample: the built-in catalog.
var SampleVendors = []string{"acme-locks", "porchlight-cams", "gridwise-energy"}

// pool is how many distinct devices (locks, cameras, meters) the events of a vendor spread over.
// Retained topics are per device, so a bounded pool keeps the broker's retained set bounded, as
// in a real home.
const pool = 64

// NewSamples returns the samples of vendors. ps computes pseudonyms as the bridge does: Acme Locks
// needs it, because the only per-event value its published message carries is a pseudonym.
func NewSamples(vendors []string, ps *pseudo.Pseudonymizer) ([]*Sample, error) {
	var out []*Sample
	for _, v := range vendors {
		switch v {
		case "acme-locks":
			if ps == nil {
				return nil, fmt.Errorf("acme-locks: its published events can be followed only with the bridge's pseudonym key")
			}
			out = append(out, acmeSample(ps))
		case "porchlight-cams":
			out = append(out, porchlightSample())
		case "gridwise-energy":
			out = append(out, gridwiseSample())
		default:
			return nil, fmt.Errorf("no sample for vendor %q (samples: acme-locks, porchlight-cams, gridwise-energy)", v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no vendors")
	}
	return out, nil
}

// eventID returns a unique id that matches every sample schema's id pattern (porchlight's is
// ^evt_[A-Za-z0-9]{4,64}$).
func eventID(run string, seq uint64) string {
	return "evt_" + run + "x" + strconv.FormatUint(seq, 10)
}

// acmeSample follows lock.state_changed events by their actor: the user id is unique per event,
// and the subscriber sees its pseudonym in the "actor" field.
func acmeSample(ps *pseudo.Pseudonymizer) *Sample {
	return &Sample{Vendor: "acme-locks", Field: "actor", build: func(b []byte, run string, seq uint64, now time.Time) ([]byte, string, string) {
		id := eventID(run, seq)
		user := "usr_" + run + "_" + strconv.FormatUint(seq, 10)
		dev := strconv.FormatUint(seq%pool, 10)
		b = append(b, `{"id":"`...)
		b = append(b, id...)
		b = append(b, `","type":"lock.state_changed","created_at":"`...)
		b = now.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, `","data":{"device_id":"LCK-7734-`...)
		b = append(b, dev...)
		b = append(b, `","device_serial":"SN-ACME-00933188`...)
		b = append(b, dev...)
		b = append(b, `","state":"unlocked","battery_pct":`...)
		b = strconv.AppendUint(b, seq%101, 10)
		b = append(b, `,"method":"keypad","user":{"id":"`...)
		b = append(b, user...)
		b = append(b, `","name":"Jane Doe","email":"jane.doe@example.com"},"location":{"lat":52.3731,"lon":4.8922,"label":"Front door, Keizersgracht 12"}}}`...)
		return b, id, ps.Token(pseudo.DomainField, "acme-locks", user)
	}}
}

// porchlightSample follows motion.detected events by their zone, which is published in clear.
// Each event also feeds the catch-all "activity" route (QoS 0), which carries no marker.
func porchlightSample() *Sample {
	return &Sample{Vendor: "porchlight-cams", Field: "zone", build: func(b []byte, run string, seq uint64, now time.Time) ([]byte, string, string) {
		id := eventID(run, seq)
		zone := "z" + run + "x" + strconv.FormatUint(seq, 10)
		cam := strconv.FormatUint(seq%pool, 10)
		b = append(b, `{"id":"`...)
		b = append(b, id...)
		b = append(b, `","object":"event","type":"motion.detected","created":`...)
		b = strconv.AppendInt(b, now.Unix(), 10)
		b = append(b, `,"livemode":true,"data":{"object":{"camera_id":"cam_88`...)
		b = append(b, cam...)
		b = append(b, `","camera_serial":"PL-CAM-00912-`...)
		b = append(b, cam...)
		b = append(b, `","zone":"`...)
		b = append(b, zone...)
		b = append(b, `","confidence":0.93,"snapshot_url":"https://media.porchlight.example/snap/cam_8842/1764058443.jpg","owner":{"name":"Jane Doe","email":"jane.doe@example.com","phone":"+31 6 1234 5678"},"geo":{"lat":52.3731,"lon":4.8922}}}}`...)
		return b, id, zone
	}}
}

// gridwiseBase is the start time of the first demand-response event; event seq starts seq
// seconds later, so the start time, published in clear, identifies the event.
var gridwiseBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// gridwiseSample follows demand_response.started events by their start time.
func gridwiseSample() *Sample {
	return &Sample{Vendor: "gridwise-energy", Field: "start", build: func(b []byte, run string, seq uint64, now time.Time) ([]byte, string, string) {
		id := run + "-" + strconv.FormatUint(seq, 10)
		start := gridwiseBase.Add(time.Duration(seq) * time.Second)
		marker := start.Format(time.RFC3339)
		meter := strconv.FormatUint(seq%pool, 10)
		b = append(b, `{"delivery_id":"`...)
		b = append(b, id...)
		b = append(b, `","event":"demand_response.started","account":{"id":"acct_22981","holder":"Jane Doe","email":"jane.doe@example.com","meter_serial":"MTR-55-0192-88`...)
		b = append(b, meter...)
		b = append(b, `","address":"Keizersgracht 12, 1015 CR Amsterdam"},"site":{"lat":52.3731,"lon":4.8922},"demand_response":{"level":"high","start":"`...)
		b = append(b, marker...)
		b = append(b, `","end":"`...)
		b = start.Add(2*time.Hour).AppendFormat(b, time.RFC3339)
		b = append(b, `","target_kw":2.5}}`...)
		return b, id, marker
	}}
}
