package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

// Namespace prefixes every metric name.
const Namespace = "parley"

// Metrics holds the node's collectors. Every method is safe for concurrent
// use and cheap (an atomic add on a pre-resolved child when it can be).
type Metrics struct {
	reg *prometheus.Registry

	FramesIn      *prometheus.CounterVec // by frame type
	FramesOut     *prometheus.CounterVec // by frame type
	Deliveries    prometheus.Counter     // entries acknowledged by devices
	Receipts      prometheus.Counter     // delivery receipts queued
	Enqueued      prometheus.Counter     // queue entries made durable
	Rejected      *prometheus.CounterVec // refusals by kind (limits)
	CommitSeconds prometheus.Histogram   // enqueue → durable, per batch handed over
	BlobBytes     *prometheus.CounterVec // media bytes by direction (in, out)
	MediaUploads  prometheus.Counter     // upload slots created
	PushBatches   *prometheus.CounterVec // webhook calls by result
	PushDropped   prometheus.Counter     // notices dropped: push queue full
	PushNotices   prometheus.Counter     // device notices handed to the gateway

	// framesIn and framesOut are the children of FramesIn and FramesOut,
	// resolved once: a label lookup hashes the value under a lock, and at
	// tens of thousands of frames a second that was 3 % of the node's CPU.
	// Read-only after New.
	framesIn, framesOut map[string]prometheus.Counter
}

// FrameIn is FramesIn's counter for kind.
func (m *Metrics) FrameIn(kind string) prometheus.Counter {
	if c, ok := m.framesIn[kind]; ok {
		return c
	}
	return m.FramesIn.WithLabelValues(kind)
}

// FrameOut is FramesOut's counter for kind.
func (m *Metrics) FrameOut(kind string) prometheus.Counter {
	if c, ok := m.framesOut[kind]; ok {
		return c
	}
	return m.FramesOut.WithLabelValues(kind)
}

// New makes a registry with the Go runtime and process collectors, the
// scheduling latency histogram (sched.go) and the node's own collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newSchedCollector())
	f := factory{reg}
	m := &Metrics{
		reg:        reg,
		FramesIn:   f.counterVec("frames_in_total", "Frames received from devices, by type.", "type"),
		FramesOut:  f.counterVec("frames_out_total", "Frames sent to devices, by type.", "type"),
		Deliveries: f.counter("deliveries_total", "Queue entries acknowledged by their device (delivered)."),
		Receipts:   f.counter("receipts_total", "Delivery receipts queued for senders."),
		Enqueued:   f.counter("enqueued_total", "Queue entries written durably (one per target device)."),
		Rejected:   f.counterVec("rate_limited_total", "Requests refused by a limit, by kind (send, register, fetch, fanout, queue_full, connections).", "kind"),
		CommitSeconds: f.histogram("store_commit_seconds",
			"Time from handing a batch of queue entries to the store until it is synced (group commit wait + fsync).",
			prometheus.ExponentialBuckets(0.0005, 2, 14)),
		BlobBytes:    f.counterVec("blob_bytes_total", "Media bytes through the HTTP listener, by direction (in: uploads, out: downloads).", "direction"),
		MediaUploads: f.counter("media_uploads_total", "Media uploads created (tus POST answered 201)."),
		PushBatches:  f.counterVec("push_batches_total", "Push webhook calls, by result (ok, error).", "result"),
		PushDropped:  f.counter("push_dropped_total", "Push notices dropped because the push queue was full (oldest first)."),
		PushNotices:  f.counter("push_notices_total", "Device notices delivered to the push gateway."),
	}
	// Series exist from the start (at 0), so rate() and alerts see them
	// before the first event.
	m.framesIn, m.framesOut = make(map[string]prometheus.Counter), make(map[string]prometheus.Counter)
	for _, k := range oneofNames(&pb.ClientFrame{}) {
		m.framesIn[k] = m.FramesIn.WithLabelValues(k)
	}
	for _, k := range oneofNames(&pb.ServerFrame{}) {
		m.framesOut[k] = m.FramesOut.WithLabelValues(k)
	}
	for _, k := range RejectKinds {
		m.Rejected.WithLabelValues(k)
	}
	for _, k := range []string{"ok", "error"} {
		m.PushBatches.WithLabelValues(k)
	}
	for _, k := range []string{"in", "out"} {
		m.BlobBytes.WithLabelValues(k)
	}
	return m
}

// RejectKinds are the kind labels of parley_rate_limited_total.
var RejectKinds = []string{"send", "register", "fetch_bundles", "fanout", "queue_full", "connections"}

func oneofNames(m proto.Message) []string {
	var out []string
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.ContainingOneof() != nil {
			out = append(out, string(fd.Name()))
		}
	}
	return out
}

// Registry is where the node adds its function-backed collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// GaugeFunc registers a gauge read from fn at scrape time.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}

// CounterFunc registers a counter read from fn at scrape time; fn must
// never go down.
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}

// LabeledCounterFunc registers one counter per label value, each read at
// scrape time.
func (m *Metrics) LabeledCounterFunc(name, help, label string, fns map[string]func() float64) {
	for v, fn := range fns {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace, Name: name, Help: help, ConstLabels: prometheus.Labels{label: v},
		}, fn))
	}
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}
