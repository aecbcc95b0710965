// Package analyze turns dnstap frames into security findings: the figures
// of `sensor report` (Report, Result, HTML and JSON), the record of normal
// traffic of `sensor baseline build` (Baseline), live alerts (AlertEngine)
// and Elastic Common Schema events (ECSWriter).
//
// It consumes dnstap protobuf payloads, as emit writes them and as any
// dnstap server does; it knows nothing about packets. Msg.Decode parses a
// frame by hand without allocating, so the live components (AlertEngine,
// ECSWriter, and their emit.Output adapters AlertOutput and ECSOutput)
// cost little per message.
//
// Memory is bounded whatever the traffic: heavy hitters are kept in
// Space-Saving tables (TopK), distinct counts in HyperLogLog sketches,
// per-key counts in count-min sketches, latency in fixed histograms, and
// every table keyed by traffic has a capacity and counts what it evicted.
// Figures that come from a sketch are labelled as estimates in the result.
package analyze
