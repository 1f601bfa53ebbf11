// Package metrics is the node's Prometheus instrumentation: one registry
// per node (never the global one, so two nodes in one test process do not
// collide) and the collectors the node, its sessions, the push service and
// the media handler report to. Handler serves the registry on /metrics.
//
// Metric names are part of the operator's interface (dashboards, alerts in
// docs/grafana-dashboard.json and docs/operations.md): rename nothing.
//
// It owns only the collectors. It must not read the store or sessions
// itself: figures that live elsewhere come in through the functions the
// node registers (GaugeFunc / CounterFunc).
package metrics
