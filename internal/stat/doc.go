// Package stat holds the one piece of vocabulary every counter table of
// the sensor shares: what a counter means for the traffic (activity, a drop,
// an error). It imports nothing, so capture, reassembly and emit can all
// name their counters' kinds next to their names, and cmd/sensor generates
// the summary and the metrics from the kinds instead of guessing from names.
package stat
